"""Benchmarks: ``make bench`` (``python -m tools.bench``) runs them and writes bench/results.md."""

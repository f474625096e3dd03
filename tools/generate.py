"""Write every generated file, or check that the committed copies are current.

    python -m tools.generate           # make generate: (re)write the files
    python -m tools.generate --check   # make check-generated: fail, naming each stale file
                                       # (make test runs it: CI fails on drift)

Each generator module exposes ``outputs() -> dict[Path, str]``: repository-relative path to the
exact text that belongs there. Generated files are committed because Prometheus, Grafana and
users read plain files; this check keeps them equal to their source.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Mapping
from pathlib import Path

from tools._repo import REPO, shown

#: Order matters only for reading the output: sources before the docs made from them.
GENERATORS: tuple[str, ...] = (
    "tools.prometheus.render",
    "tools.loki.rules",
    "tools.prometheus.ha",
    "tools.prometheus.slos",
    "tools.grafana.dashboards",
    "tools.grafana.sdk_schemas",
    "tools.docgen.metrics",
    "tools.docgen.alerting",
    "tools.docgen.dashboards",
)


def all_outputs() -> dict[Path, str]:
    outputs: dict[Path, str] = {}
    for module_name in GENERATORS:
        module = importlib.import_module(module_name)
        outputs.update(module.outputs())
    return outputs


def stale_files(outputs: dict[Path, str], root: Path = REPO) -> list[str]:
    """A message per file under ``root`` whose text differs from what its generator writes.

    The only drift check of the repository: `make check-generated` (and so `make test`) runs
    it on every output, `make lint-rules` on alerts.yml alone.
    """
    problems = []
    for path, text in outputs.items():
        target = root / path
        current = target.read_text() if target.exists() else None
        if current == text:
            continue
        if current is None:
            problems.append(f"{path}: missing; run `make generate` and commit it")
            continue
        diff = difflib.unified_diff(
            current.splitlines(),
            text.splitlines(),
            f"{path} (committed)",
            f"{path} (generated)",
            lineterm="",
            n=1,
        )
        excerpt = "\n".join(list(diff)[:20])
        problems.append(f"{path}: differs from its generator; run `make generate`\n{excerpt}")
    return problems


def write_outputs(outputs: Mapping[Path, str], root: Path = REPO) -> None:
    """Write each file whose text changed (untouched files keep their timestamps)."""
    for path, text in outputs.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {shown(target)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed file is stale")
    args = parser.parse_args(argv)
    outputs = all_outputs()
    if args.check:
        problems = stale_files(outputs)
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"{len(outputs)} generated files are current")
        return 1 if problems else 0
    write_outputs(outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

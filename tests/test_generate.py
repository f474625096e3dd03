"""``tools/generate.py``: the one writer of generated files and the one drift check."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from tools._repo import REPO
from tools.generate import GENERATORS, all_outputs, stale_files

#: What a user expects `make generate` to own: rules (Prometheus', Loki's), the six dashboards,
#: the generated docs.
EXPECTED = {
    "monitoring/prometheus/alerts.yml",
    "monitoring/grafana/dashboards/pipeline_overview.json",
    "monitoring/grafana/dashboards/agent_performance.json",
    "monitoring/grafana/dashboards/api_metrics.json",
    "monitoring/grafana/dashboards/cost_tracking.json",
    "monitoring/grafana/dashboards/quality_metrics.json",
    "monitoring/grafana/dashboards/logs.json",
    "monitoring/loki/rules/fake/narra_forge.yml",
    "docs/metrics.md",
    "docs/alerting.md",
    "docs/dashboards.md",
}


def test_every_generated_file_has_one_generator():
    outputs = all_outputs()
    assert {str(path) for path in outputs} >= EXPECTED
    owners = [
        str(path) for module in GENERATORS for path in importlib.import_module(module).outputs()
    ]
    assert len(owners) == len(set(owners)), "two generators write the same file"


def test_check_generated_passes_on_the_committed_tree():
    result = subprocess.run(
        [sys.executable, "-m", "tools.generate", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{len(all_outputs())} generated files are current"


def copy_outputs(root: Path) -> dict[Path, str]:
    outputs = all_outputs()
    for path, text in outputs.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return outputs


def test_a_hand_edit_is_named_with_its_diff(tmp_path):
    outputs = copy_outputs(tmp_path)
    edited = tmp_path / "monitoring/prometheus/alerts.yml"
    edited.write_text(edited.read_text().replace("for: 10m", "for: 1m", 1))
    (problem,) = stale_files(outputs, root=tmp_path)
    first, *diff = problem.splitlines()
    assert (
        first == "monitoring/prometheus/alerts.yml: differs from its generator; run `make generate`"
    )
    assert "-    for: 1m" in diff
    assert "+    for: 10m" in diff


def test_a_missing_file_is_named(tmp_path):
    outputs = copy_outputs(tmp_path)
    (tmp_path / "docs/metrics.md").unlink()
    assert stale_files(outputs, root=tmp_path) == [
        "docs/metrics.md: missing; run `make generate` and commit it"
    ]


def test_a_prose_edit_outside_the_markers_is_kept(tmp_path, monkeypatch):
    """Generated blocks live inside hand-written docs: prose edits are not drift."""
    from tools.docgen import dashboards

    page = REPO / dashboards.PATH
    edited = page.read_text().replace("# Grafana dashboards\n", "# Grafana dashboards (ours)\n")
    assert edited != page.read_text()
    fake_repo = tmp_path
    (fake_repo / "docs").mkdir()
    (fake_repo / dashboards.PATH).write_text(edited)
    monkeypatch.setattr(dashboards, "REPO", fake_repo)
    assert dashboards.outputs()[dashboards.PATH] == edited

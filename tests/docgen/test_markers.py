"""Generated blocks inside hand-written Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.docgen.markers import end_marker, fill, start_marker

DOC = Path("docs/example.md")


def test_only_the_text_between_the_markers_is_replaced():
    document = (
        "# Title\n\nProse before.\n\n"
        f"{start_marker('table', 'tools/x.py')}\n\nold\n\n{end_marker('table')}\n\nProse after.\n"
    )
    filled = fill(document, DOC, "table", "tools/x.py", "| new |\n")
    assert filled == document.replace("\nold\n", "\n| new |\n")
    assert fill(filled, DOC, "table", "tools/x.py", "| new |\n") == filled  # stable


def test_missing_markers_name_the_file_and_the_markers():
    with pytest.raises(ValueError, match=r"docs/example.md: markers '<!-- table: generated"):
        fill("# Alerting\n", DOC, "table", "tools/x.py", "| table |\n")

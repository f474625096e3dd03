"""Parse LogQL with Grafana's own grammar, many expressions per call.

    from tools.loki.logql import Expression, check
    findings = check([Expression('sum(rate({service="narra_forge"}[5m]))', "rules.yml: alert X")])

The parser is ``@grafana/lezer-logql``, the grammar of Grafana's Loki query editor, pinned in
``tools/loki/package.json`` and installed by ``make setup`` (``npm ci`` into
``tools/loki/node_modules``). ``parse_logql.cjs`` runs it under node once per batch and reports
the error nodes of each tree; this module turns their offsets into a position and a snippet and
names the file, rule or panel given as ``where``. LogQL is never matched with a regular
expression here: what the grammar accepts, Grafana's editor accepts.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools._repo import BinaryNotFoundError, find_command, shown

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "parse_logql.cjs"
PACKAGE = HERE / "node_modules" / "@grafana" / "lezer-logql" / "package.json"
#: Characters shown on each side of an error in a finding.
CONTEXT = 12


class LogQLParserError(RuntimeError):
    """The parser cannot run (node or the npm package missing); the message says what to do."""


@dataclass(frozen=True)
class Expression:
    """One LogQL expression and where it comes from (``file: rule X`` / ``file: panel "Y"``)."""

    text: str
    where: str


@dataclass(frozen=True)
class Parsed:
    """What the grammar made of one expression."""

    expression: Expression
    #: ``MetricExpr`` (a number per series: rules, graphs), ``LogExpr`` (lines), or None.
    kind: str | None
    #: (start, end) character offsets of each error node; empty when the expression parses.
    errors: tuple[tuple[int, int], ...]
    #: Label names in the stream selectors (``{service="x"}``), from the parse tree.
    stream_labels: frozenset[str] = frozenset()
    #: Label names of ``by (...)`` / ``without (...)``.
    grouping_labels: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.errors and self.kind is not None


@dataclass(frozen=True)
class Finding:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def parser_command() -> list[str]:
    """node and the script, or an error saying how to install them."""
    if not PACKAGE.is_file():
        raise LogQLParserError(
            f"{shown(PACKAGE.parent)} is missing: run `make setup` "
            "(npm ci in tools/loki installs Grafana's LogQL grammar)"
        )
    try:
        node = find_command("node")
    except BinaryNotFoundError as error:
        raise LogQLParserError(str(error)) from error
    return [*node, str(SCRIPT)]


def _to_characters(text: str, offset: int) -> int:
    """A JavaScript (UTF-16) offset as a Python string index: they differ past the BMP."""
    units = 0
    for index, char in enumerate(text):
        if units >= offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def parse(expressions: Sequence[Expression]) -> list[Parsed]:
    """Parse every expression with one node process; results in the same order."""
    if not expressions:
        return []
    result = subprocess.run(
        parser_command(),
        input=json.dumps([e.text for e in expressions]),
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE,
    )
    if result.returncode != 0:
        raise LogQLParserError(f"{SCRIPT.name} failed: {result.stderr.strip()}")
    answers = json.loads(result.stdout)
    if len(answers) != len(expressions):
        raise LogQLParserError(f"{SCRIPT.name} answered {len(answers)} of {len(expressions)}")
    parsed = []
    for expression, answer in zip(expressions, answers, strict=True):
        errors = tuple(
            (_to_characters(expression.text, e["from"]), _to_characters(expression.text, e["to"]))
            for e in answer["errors"]
        )
        parsed.append(
            Parsed(
                expression,
                answer["kind"],
                errors,
                frozenset(answer["stream_labels"]),
                frozenset(answer["grouping_labels"]),
            )
        )
    return parsed


def describe(parsed: Parsed) -> str:
    """``does not parse at 1:33 ...{service="x"}⟨⟩)...``: position and the text around it."""
    text = parsed.expression.text
    if parsed.kind is None and not parsed.errors:
        return "is not a LogQL expression (no log or metric query found)"
    start, end = parsed.errors[0]
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    before = text[max(0, start - CONTEXT) : start]
    after = text[end : end + CONTEXT]
    snippet = f"{before}⟨{text[start:end]}⟩{after}".replace("\n", " ")
    more = f" (and {len(parsed.errors) - 1} more)" if len(parsed.errors) > 1 else ""
    return f"LogQL does not parse at {line}:{column}: ...{snippet}...{more}"


def check(expressions: Sequence[Expression], *, kind: str | None = None) -> list[Finding]:
    """Findings for the expressions that do not parse (or are not of ``kind``, when given)."""
    findings = []
    for parsed in parse(expressions):
        where = parsed.expression.where
        if not parsed.ok:
            findings.append(Finding(where, describe(parsed)))
        elif kind is not None and parsed.kind != kind:
            wanted = (
                "a metric query (a number per series)" if kind == "MetricExpr" else "a log query"
            )
            findings.append(Finding(where, f"LogQL is a {parsed.kind}, expected {wanted}"))
    return findings

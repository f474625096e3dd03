"""Fail when a file tracked by git holds a secret.

    python -m tools.checks.secret_scan              # make secret-scan: every file of `git ls-files`
    python -m tools.checks.secret_scan PATH...      # only these files

Looks for what this project's operators handle: Slack webhook URLs and tokens, PagerDuty
routing/integration keys, dead man's switch ping URLs, OpenAI API keys, private keys, passwords
in assignments, URLs and ``curl -u``, and real secret files tracked in a secrets folder. The one
password allowed is the documented local default ``admin`` (Grafana's admin/admin); obvious
placeholders (``XXXX``, ``<your-key>``, ``${VAR}``, ``...``, a file path) are allowed too. A
deliberate fake (a test's made-up password) is listed by fingerprint in
``tools/checks/secret_scan.allow``, or its line carries the marker ``secret-scan: allow``.

Findings name the file, the line and the kind of secret, never the secret itself.
Exit codes: 0 clean, 1 secrets found, 2 git not usable.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tools._repo import REPO

ALLOW_MARKER = "secret-scan: allow"
#: Grafana's admin/admin: the documented local default, the only password allowed in git.
ALLOWED_PASSWORDS = frozenset({"admin"})
#: Folders whose content is secret except the examples and the README that explain them.
SECRET_FOLDERS = ("monitoring/alertmanager/secrets/", "secrets/")
ALLOWLIST = Path(__file__).with_name("secret_scan.allow")
MAX_BYTES = 2_000_000

_PLACEHOLDER = re.compile(
    r"""^(
        [Xx0*._/-]+                      # XXXXXXXX, 0000, ***, ...
      | .*\.\.\..*                       # T.../B.../...
      | <[^>]*>.*                        # <your-password>
      | \{.*                             # a template or format field: {{ .x }}, {PASSWORD}
      | (?:/|\./|~/)\S*                  # a path to a file holding the secret
      | \$.*                             # $VAR, $(command), $$ (compose)
      | (?i:replace[-_a-z]*|change[-_]?me|example[-_a-z]*|your[-_a-z]*|use-a-[-a-z]+)
      | (?i:none|null|true|false)
    )$""",
    re.VERBOSE,
)

_DEFAULTED = re.compile(r"^\$\{[A-Za-z0-9_]+:?[-=](?P<default>[^}]*)\}$")


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    #: Regex group holding the secret (judged against placeholders); 0 = the whole match.
    group: int = 0
    #: Only quoted literals count in these file types (code assigns variables, not secrets).
    quoted_in_code: bool = False


RULES: tuple[Rule, ...] = (
    Rule(
        "Slack webhook URL",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9_/.-]+)"),
        group=1,
    ),
    Rule("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    Rule(
        "PagerDuty key",
        re.compile(
            r"(?i)(?:routing|service|integration)[_ -]?key[\"']?\s*[:=]\s*"
            r"[\"']?([A-Za-z0-9+/]{16,})"
        ),
        group=1,
    ),
    Rule(
        "dead man's switch URL",
        re.compile(r"https://(?:hc-ping\.com|nosnch\.in|cronitor\.link/p)/([A-Za-z0-9/-]{8,})"),
        group=1,
    ),
    Rule("OpenAI API key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}")),
    Rule("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    Rule(
        "password in a URL",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s/'\"]+)@"),
        group=1,
    ),
    Rule("password in curl -u", re.compile(r"(?:^|\s)(?:-u|--user)\s+[^\s:]+:([^\s'\"]+)"), 1),
    Rule(
        "password",
        re.compile(
            r"(?i)\b[A-Za-z0-9_]*(?:password|passwd|secret|api_?key|token)[\"']?\s*[:=]\s*"
            r"(?:\"([^\"\n]*)\"|'([^'\n]*)'|(\$\{[^}\s]*\}|[^\s\"',;#}{)]+))"
        ),
        group=-1,  # whichever of the three alternatives matched
        quoted_in_code=True,
    ),
)

_CODE_SUFFIXES = frozenset({".py", ".sh", ".js", ".ts", ".go"})


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str
    fingerprint: str = ""

    def __str__(self) -> str:
        allow = f" or, if it is a deliberate fake, list `{self.path} {self.fingerprint}` in "
        allow += f"{ALLOWLIST.relative_to(REPO)}" if self.fingerprint else ""
        return f"{self.path}:{self.line}: {self.kind} (not shown); remove it from the file{allow}"


def fingerprint(secret: str) -> str:
    """Names a secret in the allowlist without writing it there."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def load_allowlist(path: Path) -> frozenset[tuple[str, str]]:
    """(file, fingerprint) pairs of deliberate fakes, e.g. a test's made-up password.

    One per line: ``<path> <fingerprint>  # why``. A real secret added later to the same file
    has another fingerprint and is still found.
    """
    entries = set()
    if path.exists():
        for line in path.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) == 2:
                entries.add((words[0], words[1]))
    return frozenset(entries)


def _secret_of(rule: Rule, match: re.Match[str]) -> tuple[str, bool]:
    """The matched secret and whether it was a quoted literal."""
    if rule.group != -1:
        return match.group(rule.group), True
    double, single, bare = match.group(1), match.group(2), match.group(3)
    if double is not None:
        return double, True
    if single is not None:
        return single, True
    return bare or "", False


def is_placeholder(value: str) -> bool:
    value = value.strip()
    if not value or value in ALLOWED_PASSWORDS:
        return True
    defaulted = _DEFAULTED.match(value)
    if defaulted:  # ${VAR:-default}: the default is what lands in git
        return is_placeholder(defaulted.group("default"))
    # Slack's shape: T000/B000/XXXX placeholders keep their T and B prefixes.
    stripped = "/".join(part.lstrip("TB") for part in value.split("/"))
    return bool(_PLACEHOLDER.match(value) or _PLACEHOLDER.match(stripped))


def _first_finding(label: str, number: int, line: str, code: bool) -> Finding | None:
    """The line's secret by the most specific rule (RULES go from specific to generic)."""
    for rule in RULES:
        for match in rule.pattern.finditer(line):
            secret, quoted = _secret_of(rule, match)
            if rule.quoted_in_code and code and not quoted:
                continue  # `password = args.password`: a variable, not a secret
            if not is_placeholder(secret):
                return Finding(label, number, rule.kind, fingerprint(secret))
    return None


def scan_text(label: str, text: str) -> list[Finding]:
    findings = []
    code = Path(label).suffix in _CODE_SUFFIXES
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOW_MARKER in line:
            continue
        finding = _first_finding(label, number, line, code)
        if finding:
            findings.append(finding)
    return findings


def tracked_files(repo: Path = REPO) -> list[str]:
    try:
        result = subprocess.run(
            ["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise RuntimeError(f"cannot list the tracked files of {repo} with git: {error}") from error
    return [name for name in result.stdout.decode().split("\0") if name]


def _secret_folder_finding(name: str) -> Finding | None:
    for folder in SECRET_FOLDERS:
        if name.startswith(folder):
            rest = name[len(folder) :]
            if "/" not in rest and not rest.endswith(".example") and rest != "README.md":
                return Finding(name, 1, "a real secret file tracked by git (`git rm --cached` it)")
    return None


def scan_files(
    names: Iterable[str], root: Path = REPO, allowlist: Path | None = None
) -> list[Finding]:
    allowed = load_allowlist(ALLOWLIST if allowlist is None else allowlist)
    findings = []
    for name in names:
        folder_finding = _secret_folder_finding(name)
        if folder_finding:
            findings.append(folder_finding)
            continue
        path = root / name
        try:
            if not path.is_file() or path.stat().st_size > MAX_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data:
            continue  # binary
        findings += [
            finding
            for finding in scan_text(name, data.decode(errors="replace"))
            if (finding.path, finding.fingerprint) not in allowed
        ]
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="files to scan (default: git ls-files)")
    args = parser.parse_args(argv)
    try:
        names = args.paths or tracked_files()
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    root = Path.cwd() if args.paths else REPO
    findings = scan_files(names, root)
    for finding in findings:
        print(finding, file=sys.stderr)
    if findings:
        print(f"{len(findings)} secret(s) in tracked files", file=sys.stderr)
        return 1
    print(f"no secret in {len(names)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

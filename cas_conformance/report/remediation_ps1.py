"""reports/remediation.ps1: every fix of the run, grouped by server, none of it armed.

An administrator reviews each block and runs the ones the change board approved, deliberately: the
script itself does nothing when run as it is. Every line of it is a PowerShell comment, and each
failure is one ``#region`` block (collapsible in the ISE and VS Code) whose remediation lines start
with ``# `` (remove that prefix to arm a line). The requirement id, the object and the observed
value stand above each fix.

Observed values come from servers, DNS and certificates: a line break in one would end the comment
and turn the rest of the value into a command, so every value is folded to one line and control
characters are replaced before it enters the script.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from cas_conformance.checks import requirement
from cas_conformance.report.records import TestRecord

UNREACHABLE_PROPERTY = "unreachable"  # set by the plugin on tests of a server that was not collected
NO_SERVER = "(organisation: published names, DNS and mail domains)"
BLOCK_START = "#region"
BLOCK_END = "#endregion"


def one_line(text: str) -> str:
    """*text* with every control, line- or paragraph-separator character shown as a visible escape."""
    out = []
    for char in text:
        category = unicodedata.category(char)
        if char == "\t":
            out.append(" ")
        elif category in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def _title(req_id: str) -> str:
    try:
        req = requirement(req_id)
    except KeyError:
        return req_id
    return f"{req.id} [{req.severity.value}] {req.title}"


def command_text(line: str) -> str:
    """*line* without its trailing PowerShell comment (a ``#`` after whitespace, outside quotes):
    ``netsh ... bypass-list="..."   # on CAS01, elevated`` is the same command as without it."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


_PLACEHOLDER = re.compile(r"<[A-Za-z][A-Za-z0-9_.-]*>")


def placeholders(line: str) -> list[str]:
    """The ``<name>`` slots of a command outside quotes (``<local>`` inside a netsh bypass list is
    WinHTTP's own syntax): values the administrator must type before the line can run."""
    outside, quote = [], ""
    for char in command_text(line):
        if quote:
            quote = "" if char == quote else quote
            outside.append(" ")
        elif char in "'\"":
            quote = char
            outside.append(" ")
        else:
            outside.append(char)
    return list(dict.fromkeys(_PLACEHOLDER.findall("".join(outside))))


class _Seen:
    """Fixes already written: a remediation identical to an earlier block's is not repeated, and a
    command an earlier block already holds (the same netsh line under PROXY-02 and CERT-01) is
    shown as done there. Generic: any two requirements whose fixes coincide."""

    def __init__(self) -> None:
        self.blocks: dict[tuple[str, ...], int] = {}
        self.commands: dict[str, int] = {}

    def lines(self, number: int, remediation: list[str]) -> list[str]:
        key = tuple(line.strip() for line in remediation if line.strip())
        if key in self.blocks:
            return [
                f"# # the same fix as block {self.blocks[key]} above: run that block once, nothing more here"
            ]
        self.blocks[key] = number
        out = []
        for line in remediation:
            command = command_text(line) if not line.strip().startswith("#") else line.strip()
            if not line.strip():
                out.append("#")
            elif not command.startswith("#") and command in self.commands:
                out.append(
                    f"# # already in block {self.commands[command]} above (run it once): {one_line(command)}"
                )
            else:
                if not command.startswith("#"):
                    self.commands[command] = number
                    slots = placeholders(line)
                    if slots:
                        out.append(
                            f"# # fill in {', '.join(one_line(x) for x in slots)} in the next line first:"
                        )
                out.append(f"# {one_line(line)}")
        return out


def _block(number: int, record: TestRecord, seen: _Seen) -> list[str]:
    lines = [
        f"{BLOCK_START} {number}: {one_line(record.requirement)} on {one_line(record.object or record.nodeid)}",
        f"# requirement: {one_line(_title(record.requirement))}",
        f"# test:        {one_line(record.nodeid)}",
        f"# object:      {one_line(record.object)}",
        f"# observed:    {one_line(record.observed)}",
        f"# expected:    {one_line(record.expected)}",
    ]
    if record.waiver and record.waiver.get("status") == "expired":
        lines.append(
            f"# waiver expired on {one_line(str(record.waiver.get('expires')))} "
            f"(owner {one_line(str(record.waiver.get('owner')))})"
        )
    remediation = record.remediation.splitlines() or ["# no remediation text: see this test in the report"]
    lines.append("# --- remediation (review, then remove the leading '# ' to run a line) ---")
    lines.extend(seen.lines(number, remediation))
    lines.append(BLOCK_END)
    return lines


def _reason(record: TestRecord) -> str:
    text = record.message.strip().splitlines()
    return text[0].removeprefix("could not check: ") if text else "no reason recorded"


def _error_lines(errors: list[TestRecord]) -> list[str]:
    """The tests that could not be checked, with why: one line per unreachable server (how many
    tests it held), one per other test."""
    if not errors:
        return []
    lines = [f"# {len(errors)} test(s) could not be checked and have no fix here (see results.json):"]
    down: dict[str, int] = {}
    for record in errors:
        cause = record.props.get(UNREACHABLE_PROPERTY)
        if cause:
            down[cause] = down.get(cause, 0) + 1
    lines.extend(f"#   {one_line(cause)} ({count} test(s))" for cause, count in down.items())
    lines.extend(
        f"#   {one_line(r.nodeid)}: {one_line(_reason(r))}"
        for r in errors
        if not r.props.get(UNREACHABLE_PROPERTY)
    )
    return lines


def render_remediation_script(records: Sequence[TestRecord], header: dict[str, str]) -> str:
    """The script text (CRLF line ends are the writer's business): one block per failed test,
    a fix that an earlier block already holds written once."""
    failures = [r for r in records if r.outcome == "failed"]
    by_server: dict[str, list[TestRecord]] = {}
    for record in failures:
        by_server.setdefault(record.server or NO_SERVER, []).append(record)
    waived = sum(1 for r in records if r.outcome == "waived")
    errors = [r for r in records if r.outcome == "error"]
    lines = [
        "# cas-conformance remediation script: NOTHING IN IT RUNS AS IT IS.",
        "# Every fix below is commented out. Review each block, have it approved, then remove the",
        "# leading '# ' of the lines you mean to run, in the Exchange Management Shell of the server named.",
    ]
    lines.extend(f"# {one_line(key)}: {one_line(value)}" for key, value in header.items())
    lines.append(f"# {len(failures)} failure(s) on {len(by_server)} server group(s)")
    if waived:
        lines.append(f"# {waived} waived failure(s) are not listed (see results.json)")
    lines.extend(_error_lines(errors))
    number = 0
    seen = _Seen()
    for server in sorted(by_server, key=lambda s: (s == NO_SERVER, s.lower())):
        lines.extend(["", f"# ===== {one_line(server)} ====="])
        for record in by_server[server]:
            number += 1
            lines.append("")
            lines.extend(_block(number, record, seen))
    lines.append("")
    return "\r\n".join(lines)

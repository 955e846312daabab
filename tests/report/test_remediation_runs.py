"""remediation.ps1 as an administrator runs it: for the broken lab each certificate is requested
once (with every name CERT-02 and CERT-03 ask for), no fix is written twice, and every line is a
command or a comment saying what to do; errors are listed with their reason."""

from __future__ import annotations

import re

import pytest

from cas_conformance.report.records import TestRecord
from cas_conformance.report.remediation_ps1 import command_text, placeholders, render_remediation_script
from tests.report.suite_runs import BROKEN, run_suite

# A PowerShell cmdlet (Verb-Noun), optionally assigned to a variable, or one of the Windows tools
# a fix runs; anything else on an armed line would be prose that cannot run.
_COMMAND = re.compile(
    r"(\$\w+ = )?([A-Z][a-z]+-[A-Z][A-Za-z]+\b|netsh |certutil |dnscmd |\.\\Setup\.com /mode:)"
)


def _blocks(script: str) -> list[list[str]]:
    """Each block's remediation lines, without the leading '# ' that disarms them."""
    blocks, current = [], None
    for line in script.splitlines():
        if line.startswith("# --- remediation"):
            current = []
        elif line == "#endregion":
            assert current is not None
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line.removeprefix("# ") if line != "#" else "")
    return blocks


def test_broken_lab_remediation_runs(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, inventory=BROKEN)
    assert run.ret == 1
    script = run.remediation()
    each_certificate_is_requested_once(script)
    no_fix_is_written_twice(script)
    every_line_is_a_command_or_a_comment(script)


def each_certificate_is_requested_once(broken_script: str) -> None:
    requests = [line for line in broken_script.splitlines() if "New-ExchangeCertificate" in line]
    assert requests, "the broken lab has certificate failures"
    used = re.findall(r"# # certificate ([0-9A-F]{40}) is used on", broken_script)
    assert len(used) == len(set(used)) == len(requests), requests
    # CERT-02's missing name is in the one request CERT-03's renewal also points at
    assert "autodiscover.contoso.lab" in requests[0]


def no_fix_is_written_twice(broken_script: str) -> None:
    blocks = [b for b in _blocks(broken_script) if not b[0].startswith("# the same fix as block")]
    keys = [tuple(b) for b in blocks]
    assert len(keys) == len(set(keys))
    commands = [command_text(line) for b in blocks for line in b if line and not line.startswith("#")]
    assert len(commands) == len(set(commands)), sorted(c for c in commands if commands.count(c) > 1)
    assert sum("same fix as block" in line for line in broken_script.splitlines()) >= 2


def every_line_is_a_command_or_a_comment(broken_script: str) -> None:
    for line in broken_script.splitlines():
        assert not line or line.startswith("#") or line.startswith("\ufeff#"), line
    for block in _blocks(broken_script):
        for n, line in enumerate(block):
            assert not line or line.startswith("#") or _COMMAND.match(line), line
            slots = placeholders(line) if line and not line.startswith("#") else []
            assert not slots or block[n - 1].startswith("# fill in "), (line, block[n - 1])


def test_errors_are_listed_with_their_reason() -> None:
    down = "cas02.contoso.lab: WinRM https://cas02.contoso.lab:5986/wsman: connection refused"
    records = [
        TestRecord(f"t::a[{n}]", outcome="error", message="could not check: x", props={"unreachable": down})
        for n in range(3)
    ]
    records.append(TestRecord("t::b", outcome="error", message="could not check: DNS timed out\nmore"))
    script = render_remediation_script(records, {})
    assert f"#   {down} (3 test(s))" in script
    assert "#   t::b: DNS timed out" in script
    assert "t::a[0]" not in script


def test_a_command_with_slots_to_fill_says_so() -> None:
    record = TestRecord(
        "t::a",
        requirement="OUT-02",
        outcome="failed",
        remediation='dnscmd <dns-server> /RecordAdd contoso.lab outlook A <ip>\nnetsh x bypass-list="<local>"',
    )
    lines = render_remediation_script([record], {}).split("\r\n")
    at = lines.index("# dnscmd <dns-server> /RecordAdd contoso.lab outlook A <ip>")
    assert lines[at - 1] == "# # fill in <dns-server>, <ip> in the next line first:"
    assert lines[at + 1] == '# netsh x bypass-list="<local>"'  # WinHTTP's <local>, in quotes: nothing to fill


def test_command_text_drops_a_trailing_comment_outside_quotes() -> None:
    assert (
        command_text('netsh x bypass-list="<local>;*.a"   # on CAS01') == 'netsh x bypass-list="<local>;*.a"'
    )
    assert command_text('Set-X -Y "a # b"') == 'Set-X -Y "a # b"'

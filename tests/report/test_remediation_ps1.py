"""remediation.ps1 text: one guarded block per failure, and no value can leave its comment."""

from __future__ import annotations

import re

from cas_conformance.report.records import TestRecord
from cas_conformance.report.remediation_ps1 import render_remediation_script


def _failure(nodeid: str, server: str, observed: str, remediation: str) -> TestRecord:
    return TestRecord(
        nodeid,
        requirement="OUT-01",
        severity="critical",
        server=server,
        object="DB01",
        outcome="failed",
        observed=observed,
        expected="a CAS",
        remediation=remediation,
    )


def test_blocks_per_failure_grouped_by_server_and_all_commented() -> None:
    hostile = "x\r\nRemove-Item C:\\ -Recurse\u2028Stop-Computer\nthe end\x00\x1b[2J"
    records = [
        _failure(
            "t::a",
            "mbx01.contoso.lab",
            hostile,
            'Get-MailboxDatabase "DB01" | Set-MailboxDatabase -X y\n\n# a note',
        ),
        _failure("t::b", "", "missing", "Add-DnsServerResourceRecordA ..."),
        _failure("t::c", "cas01.contoso.lab", "v", ""),
        TestRecord("t::ok", requirement="OUT-01", outcome="passed", server="cas01.contoso.lab"),
        TestRecord(
            "t::w", requirement="OUT-01", outcome="waived", server="cas01.contoso.lab", remediation="Do-It"
        ),
        TestRecord(
            "t::e", requirement="OUT-01", outcome="error", server="cas02.contoso.lab", message="timeout"
        ),
    ]
    script = render_remediation_script(records, {"Inventory": "prod.ini"})
    lines = script.split("\r\n")
    assert all(line.startswith("#") for line in lines if line), [
        line for line in lines if line and line[0] != "#"
    ]
    assert not re.search(r"[\x00-\x08\x0b-\x1f\u2028\u2029]", script.replace("\r\n", ""))
    assert script.count("#region ") == 3 == script.count("#endregion")
    assert "Do-It" not in script  # a waived failure is no fix to run
    assert "# 1 waived failure(s) are not listed" in script and "#   t::e" in script
    # Servers in name order, the organisation-wide names last.
    order = re.findall(r"^# ===== (.*) =====$", "\n".join(lines), re.MULTILINE)
    assert order == [
        "cas01.contoso.lab",
        "mbx01.contoso.lab",
        "(organisation: published names, DNS and mail domains)",
    ]
    assert '# Get-MailboxDatabase "DB01" | Set-MailboxDatabase -X y' in lines
    assert "# # a note" in lines
    assert (
        "# observed:    x\\u000d\\u000aRemove-Item C:\\ -Recurse\\u2028Stop-Computer\\u000athe end\\u0000\\u001b[2J"
        in lines
    )
    assert "# # no remediation text: see this test in the report" in lines

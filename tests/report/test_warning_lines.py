"""The same warning of many servers is two terminal lines, not one per server: the first server's
in full, then one naming every other server (an organisation of 2,000 servers speaking TLS 1.0
only would otherwise print 2,000 lines)."""

from __future__ import annotations

import re

import pytest

from tests.report.suite_runs import HEALTHY, run_suite

SERVERS = {"cas01.contoso.lab", "cas02.contoso.lab", "mbx01.contoso.lab", "ex01.contoso.lab"}


def test_one_warning_in_full_then_one_line_naming_the_other_servers(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, inventory=HEALTHY)
    lines = [line for line in run.out.splitlines() if "spoke TLSv1 only" in line]
    assert len(lines) == 2, lines
    first = re.fullmatch(
        r"cas-conformance: WARNING: (\S+): WinRM https://\1:5986/wsman spoke TLSv1 only .*", lines[0]
    )
    assert first is not None, lines[0]
    rest = re.fullmatch(
        r"cas-conformance: WARNING: the same on 3 more servers \(([^)]*)\): WinRM https://<server>:5986/wsman "
        r"spoke TLSv1 only .*",
        lines[1],
    )
    assert rest is not None, lines[1]
    assert {first.group(1), *rest.group(1).split(", ")} == SERVERS

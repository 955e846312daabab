"""--limit in a run: only the selected servers are collected and tested; no match is a usage error."""

from __future__ import annotations

import pytest

from tests.report.suite_runs import HEALTHY, run_suite

# ex01.contoso.lab is left out: it is also a database's RpcClientAccessServer, an object a test of cas01 names.
OTHERS = ("cas02.contoso.lab", "mbx01.contoso.lab")


def test_limit_runs_only_the_selected_server(pytester: pytest.Pytester) -> None:
    full = run_suite(pytester, "--collect-only", "-q", inventory=HEALTHY, name="full").result
    everyone = [line for line in full.stdout.lines if "::" in line]
    assert any(other in line for line in everyone for other in OTHERS)
    result = run_suite(pytester, "--limit", "cas01*", inventory=HEALTHY).result
    assert result.ret == 0, result.stdout.str()
    collected = run_suite(pytester, "--limit", "cas01*", "--collect-only", "-q", inventory=HEALTHY, name="c")
    ids = [line for line in collected.result.stdout.lines if "::" in line]
    assert ids and len(ids) < len(everyone)
    assert any("cas01.contoso.lab" in line for line in ids)
    assert not any(other in line for line in ids for other in OTHERS)


def test_limit_matching_nothing_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, "--limit", "nothing*", inventory=HEALTHY).result
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--limit: the pattern 'nothing*' matches no host" in result.stderr.str()

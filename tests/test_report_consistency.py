"""One name per server, counts that agree, the broken lab's faults recorded, -k <server> = the
server's matrix row, and the waivers example at work against the broken lab."""

from __future__ import annotations

import re

import pytest

from tests.report.suite_runs import BROKEN, ROOT, run_suite


def test_broken_lab_outputs_agree(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, "--waivers", str(ROOT / "waivers.example.toml"), inventory=BROKEN)
    assert run.ret == 1, run.out
    results = run.results()
    # the scenario's own faults (broken.toml), not only --lab-fault's
    assert results["run"]["lab_faults"], results["run"]
    assert "Lab faults" in run.html()
    # the Client Access server that served Exchange remote PowerShell, in results.json and the HTML
    assert results["run"]["exchange_powershell"], results["run"]
    assert "Exchange remote PowerShell" in run.html()
    # OUT-01 names the database's server as the inventory does, in the terminal too
    out01 = run.test("test_rpc_client_access_server_is_client_access[DB01]")
    assert out01["server"] == "mbx01.contoso.lab"
    assert "server:      MBX01" not in run.out and "server:      mbx01.contoso.lab" in run.out
    servers = {t["server"] for t in results["tests"] if t["server"]}
    assert servers <= {"cas01.contoso.lab", "cas02.contoso.lab", "mbx01.contoso.lab", "ex01.contoso.lab"}
    # waivers: each counts the failures it waived, not every test it matched
    waived = [t for t in results["tests"] if t["outcome"] == "waived"]
    assert len(waived) == 4, [t["nodeid"] for t in waived]
    applied = re.findall(r"applied waiver \(line \d+\) to (\d+) failing test\(s\)", run.out)
    assert sorted(map(int, applied)) == [1, 3], applied
    # the HTML totals say how they relate to pytest-html's "N tests took" line
    counts = {o: sum(t["outcome"] == o for t in results["tests"]) for o in ("passed", "failed", "waived")}
    ran = sum(counts.values())
    assert f"{ran} tests took" in run.html()
    assert f'{len(results["tests"])} tests in all. The "{ran} tests took" line' in run.html()


def test_k_server_selects_its_matrix_row(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, inventory=BROKEN)
    row = {t["nodeid"] for t in run.results()["tests"] if t["server"] == "mbx01.contoso.lab"}
    assert any("[DB01]" in n for n in row), "a database test belongs to its server's row"
    collected = run_suite(pytester, "-k", "mbx01", "--collect-only", "-q", inventory=BROKEN, name="k")
    selected = {line.strip() for line in collected.out.splitlines() if "::" in line}
    assert row <= selected, sorted(row - selected)
    # anything more was chosen by its own id (a name with mbx01 in it), as -k always does
    assert all("mbx01" in n for n in selected - row), sorted(selected - row)

"""The drift view as an administrator sees it: in a real headless Chromium, the odd member's cell
has the symbol and the computed colours of a failed matrix cell, the agreeing members a passed one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Browser
from tests.report.suite_runs import ROOT, run_suite

DRIFT_CELLS = """
const [group, property] = arguments;
const table = document.querySelector(`table.cas-drift[data-group="${group}"]`);
const members = [...table.querySelectorAll('thead th')].slice(1, -1).map((th) => th.textContent);
const row = table.querySelector(`tr[data-property="${property}"]`);
const cells = [...row.querySelectorAll('td.cas-cell')];
return members.map((m, i) => ({
    member: m, outcome: cells[i].dataset.outcome, text: cells[i].textContent,
    background: getComputedStyle(cells[i]).backgroundColor, color: getComputedStyle(cells[i]).color,
}));
"""
MATRIX_COLOURS = """
const [outcome] = arguments;
const cell = document.querySelector(`#cas-matrix td[data-outcome="${outcome}"]`);
return {background: getComputedStyle(cell).backgroundColor, color: getComputedStyle(cell).color};
"""


def test_odd_member_is_marked_like_a_failed_matrix_cell(pytester: pytest.Pytester, browser: Browser) -> None:
    inventory = pytester.path / "three.ini"  # the healthy lab's hosts and the third array member
    hosts = ["cas01", "cas02", "cas03", "mbx01", "ex01"]
    scenario = ROOT / "fixtures" / "lab" / "healthy.toml"
    inventory.write_text(
        "".join(f"{h}.contoso.lab\n" for h in hosts) + f"[all:vars]\nlab_scenario = {scenario}\n"
    )
    run = run_suite(
        pytester,
        "--lab-fault",
        "array-third-member",
        "--lab-fault",
        "drift-outlook-anywhere-auth",
        inventory=inventory,
    )
    assert run.ret == 1
    page = browser.open(run.reports / "report.html")
    assert page.dialogs == []
    cells: list[dict[str, Any]] = page.script(DRIFT_CELLS, "HQ", "oa-client-auth")
    assert [(c["member"], c["outcome"], c["text"]) for c in cells] == [
        ("CAS01", "passed", "\u2713Basic"),
        ("CAS02", "passed", "\u2713Basic"),
        ("CAS03", "failed", "\u2717Ntlm"),
    ]
    failed, passed = page.script(MATRIX_COLOURS, "failed"), page.script(MATRIX_COLOURS, "passed")
    assert {k: cells[2][k] for k in ("background", "color")} == failed
    assert {k: cells[0][k] for k in ("background", "color")} == passed
    assert failed != passed
    single = page.script("return document.getElementById('cas-drift').textContent")
    assert "peer group DR (AD site DR) has one member (EX01)" in single

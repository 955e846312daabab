"""The HTML report as an administrator sees it: opened in a real headless Chromium.

pytest-html renders its table in the browser from a JSON blob (cells go in with innerHTML), so
only a browser shows whether the matrix renders, whether a failing row carries its fix, and
whether markup from a server stays text. A dialog opened by any script is a finding.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Browser
from tests.report.suite_runs import run_hostile_strings, run_suite

ROWS_RENDERED = "return document.querySelectorAll('#results-table tbody.results-table-row').length > 0"
HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
INJECTED = "return document.querySelectorAll('img[src=\"x\"], [onerror]').length"

MATRIX_CELL = """
const [server, requirement] = arguments;
const table = document.getElementById('cas-matrix');
const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
const column = heads.indexOf(requirement);
const row = [...table.querySelectorAll('tbody tr')].find((tr) => tr.querySelector('th').textContent === server);
const cell = row.children[column];
return {outcome: cell.dataset.outcome, text: cell.textContent, cls: cell.className};
"""

CLICK_CELL = """
const [server, requirement] = arguments;
const table = document.getElementById('cas-matrix');
const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
const row = [...table.querySelectorAll('tbody tr')].find((tr) => tr.querySelector('th').textContent === server);
const cell = row.children[heads.indexOf(requirement)];
const list = cell.querySelector('details ul');
const before = list.checkVisibility();
cell.querySelector('summary').click();
return {title: cell.title, before: before, after: list.checkVisibility(), text: list.textContent};
"""

FAILING_ROW = """
const [fragment] = arguments;
const body = [...document.querySelectorAll('#results-table tbody.results-table-row')]
    .find((b) => b.querySelector('.col-testId').textContent.includes(fragment));
if (!body) return null;
const pre = body.querySelector('.col-remediation pre');
return {
    result: body.querySelector('.col-result').textContent,
    requirement: body.querySelector('.col-requirement').textContent,
    remediation: pre ? pre.textContent : body.querySelector('.col-remediation').textContent,
    font: pre ? getComputedStyle(pre).fontFamily : '',
    shown: pre ? pre.getBoundingClientRect().height > 0 : false,
};
"""


def test_broken_lab_report_shows_matrix_and_remediation(pytester: pytest.Pytester, browser: Browser) -> None:
    run = run_suite(pytester)
    assert run.ret == 1
    page = browser.open(run.reports / "report.html", ROWS_RENDERED)
    assert page.dialogs == []

    assert browser.driver.find_element("id", "cas-matrix").is_displayed()
    servers = page.script(
        "return [...document.querySelectorAll('#cas-matrix tbody th')].map((th) => th.textContent)"
    )
    assert servers == [
        "cas01.contoso.lab",
        "cas02.contoso.lab",
        "ex01.contoso.lab",
        "mbx01.contoso.lab",
        "(organisation)",
    ]
    cell: dict[str, Any] = page.script(MATRIX_CELL, "mbx01.contoso.lab", "OUT-01")
    assert cell["outcome"] == "failed" and cell["text"].startswith("\u2717")
    clicked: dict[str, Any] = page.script(CLICK_CELL, "mbx01.contoso.lab", "OUT-01")
    assert clicked["before"] is False and clicked["after"] is True, clicked  # the reason shows on click
    reason = "DB01: mbx01.contoso.lab (server MBX01, roles Mailbox)"
    assert reason in clicked["text"] and reason in clicked["title"]
    cell = page.script(MATRIX_CELL, "cas02.contoso.lab", "OWA-01")
    assert cell["outcome"] == "passed" and cell["text"].startswith("\u2713")
    totals = page.script("return document.querySelector('#cas-totals tbody tr:last-child').textContent")
    assert "total" in totals

    row = page.script(FAILING_ROW, "test_rpc_client_access_server_is_client_access[DB01]")
    assert row is not None, "the failing OUT-01 row is not in the rendered table"
    assert row["result"] == "Failed" and row["requirement"] == "OUT-01"
    assert (
        'Get-MailboxDatabase "DB01" | Set-MailboxDatabase -RpcClientAccessServer outlook.contoso.lab'
        in (row["remediation"])
    )
    assert "monospace" in row["font"] and row["shown"]
    environment = page.script("return document.getElementById('environment').textContent")
    assert "Inventory SHA-256" in environment and "Runner host" in environment


def test_hostile_strings_render_as_text(pytester: pytest.Pytester, browser: Browser) -> None:
    run = run_hostile_strings(pytester)
    assert run.ret == 1
    page = browser.open(run.reports / "report.html", ROWS_RENDERED)
    assert page.dialogs == [], f"a script from the data opened a dialog: {page.dialogs}"
    assert page.script(INJECTED) == 0, "an element from the data was created"
    assert page.script("return document.scripts.length") == 1  # pytest-html's own
    table_text = page.script("return document.getElementById('results-table').textContent")
    assert f"DB{HOSTILE}" in table_text  # the database name, as text
    assert "O=<img src=x onerror=alert(1)>" in table_text  # the certificate subject, as text
    row = page.script(FAILING_ROW, "test_rpc_client_access_server_is_client_access[DB_img")
    assert row is not None and row["result"] == "Failed"
    assert f'Get-MailboxDatabase "DB{HOSTILE}"' in row["remediation"]


HOSTILE_ID_TEST = """
import pytest

@pytest.mark.parametrize("value", [1], ids=["<img src=x onerror=alert(1)>"])
def test_hostile_id(value):
    assert value
"""


def test_dialog_detector_and_the_id_escape(pytester: pytest.Pytester, browser: Browser) -> None:
    """pytest-html 4.2 alone runs markup in a test id (the detector must see it); with this
    plugin loaded the id cell is escaped and the same id is text."""
    pytester.makepyfile(test_ids=HOSTILE_ID_TEST)
    bare = pytester.runpytest(
        "-p", "no:cas_conformance", "-p", "no:cacheprovider", "--html=bare/r.html", "--self-contained-html"
    )
    assert bare.ret == 0
    page = browser.open(pytester.path / "bare" / "r.html", ROWS_RENDERED)
    assert page.dialogs == ["1"] and page.script(INJECTED) >= 1

    ours = pytester.runpytest("-p", "no:cacheprovider", "--html=ours/r.html", "--self-contained-html")
    assert ours.ret == 0
    page = browser.open(pytester.path / "ours" / "r.html", ROWS_RENDERED)
    assert page.dialogs == [] and page.script(INJECTED) == 0
    ids = page.script("return document.querySelector('#results-table .col-testId').textContent")
    assert ids.endswith("test_hostile_id[<img src=x onerror=alert(1)>]")

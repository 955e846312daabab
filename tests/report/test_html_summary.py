"""The HTML summary fragments: matrix and totals, escaped; pytest-html's environment table escaped."""

from __future__ import annotations

from html.parser import HTMLParser

from cas_conformance.report.html_summary import escape_environment, matrix_html, summary_html, totals_html
from cas_conformance.report.records import TestRecord

HOSTILE = "<img src=x onerror=alert(1)>"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collect:
    parser = _Collect()
    parser.feed(html)
    return parser


def _rec(server: str, req: str, outcome: str, severity: str = "critical") -> TestRecord:
    return TestRecord(
        f"t::{server}-{req}-{outcome}", requirement=req, severity=severity, server=server, outcome=outcome
    )


def test_matrix_worst_outcome_per_cell_with_symbol_and_count() -> None:
    records = [
        _rec("cas01", "OUT-01", "passed"),
        _rec("cas01", "OUT-01", "failed"),
        _rec("cas01", "OUT-01", "failed"),
        _rec("cas01", "VER-01", "waived"),
        _rec("cas02", "VER-01", "error"),
        _rec("", "CONN-01", "skipped", "warning"),
    ]
    html = matrix_html(records)
    assert 'data-outcome="failed" title="2 fail, 1 pass\nt::cas01-OUT-01-failed: ">' in html
    assert (
        '<details class="cas-reasons"><summary>\u2717 2</summary><ul><li>t::cas01-OUT-01-failed: </li>'
        in html
    )
    assert 'class="cas-cell cas-waived" data-outcome="waived" title="1 waived">W</td>' in html
    assert 'data-outcome="error"' in html and 'data-outcome="skipped"' in html
    # Catalogue column order, servers by name, the organisation last.
    parsed = _parse(html)
    heads = [t for t in parsed.text if t in ("VER-01", "OUT-01", "CONN-01")]
    assert heads == ["VER-01", "OUT-01", "CONN-01"]
    assert html.index(">cas01<") < html.index(">cas02<") < html.index(">(organisation)<")
    totals = totals_html(records)
    assert (
        '<th scope="row">critical</th><td>1</td><td>2</td><td>1</td><td>0</td><td>1</td><td>5</td>' in totals
    )


def test_every_value_is_escaped() -> None:
    records = [TestRecord("t::x", requirement=HOSTILE, severity=HOSTILE, server=HOSTILE, outcome="failed")]
    html = summary_html(records, files={"results.json": f"/tmp/{HOSTILE}/results.json"})
    assert "img" not in _parse(html).tags and "<img" not in html
    env = escape_environment({"Inventory": HOSTILE, "Packages": {HOSTILE: HOSTILE}})
    assert env["Inventory"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert list(env["Packages"].items()) == [(env["Inventory"], env["Inventory"])]


def test_a_failing_cell_gives_its_reasons_on_hover_and_on_click_escaped() -> None:
    records = [
        TestRecord(
            "t::a",
            requirement="OUT-01",
            server="mbx01",
            outcome="failed",
            object="DB01",
            observed=f"RpcClientAccessServer {HOSTILE}",
        ),
        TestRecord(
            "t::b",
            requirement="OUT-01",
            server="mbx01",
            outcome="error",
            message="could not check: mbx01: WinRM https://mbx01:5986/wsman: connection refused\nmore",
        ),
    ]
    html = matrix_html(records)
    parsed = _parse(html)
    assert "img" not in parsed.tags and "<img" not in html
    assert "DB01: RpcClientAccessServer <img src=x onerror=alert(1)>" in parsed.text
    assert "mbx01: WinRM https://mbx01:5986/wsman: connection refused" in parsed.text
    title = "1 error, 1 fail\nDB01: RpcClientAccessServer &lt;img src=x onerror=alert(1)&gt;"
    assert f'title="{title}' in html

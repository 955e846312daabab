"""One broken-lab run and everything it writes: results.json (against its shipped schema),
remediation.ps1, the HTML summary, run metadata, progress lines; a hostile-strings run's ids."""

from __future__ import annotations

import getpass
import hashlib
import re
from html.parser import HTMLParser

import jsonschema
import pytest

from cas_conformance.report.results_json import load_schema
from tests.report.suite_runs import BROKEN, LAB_PASSWORD, run_hostile_strings, run_suite

OUT01 = "test_rpc_client_access_server_is_client_access[DB01]"


def test_broken_run_writes_every_report(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester)
    assert run.ret == 1
    results = run.results()

    # results.json: valid against the schema shipped in the package, one entry per test.
    jsonschema.validate(results, load_schema(), format_checker=jsonschema.FormatChecker())
    assert results["schema"] == "cas-conformance/results/1"
    junit = run.junit_outcomes()
    assert len(results["tests"]) == len(junit) == len(run.outcomes())
    counts = run.result.parseoutcomes()
    assert results["run"]["counts"]["failed"] == counts["failed"] > 10
    assert results["run"]["counts"]["passed"] == counts["passed"]
    failed = {n for n, o in run.outcomes().items() if o == "failed"}
    assert failed == {n for n, o in junit.items() if o == "failure"}

    out01 = run.test(OUT01)
    assert out01["requirement"] == "OUT-01" and out01["severity"] == "critical"
    assert out01["server"] == "mbx01.contoso.lab" and out01["object"] == "DB01"
    assert out01["outcome"] == "failed"
    assert 'Get-MailboxDatabase "DB01" | Set-MailboxDatabase' in out01["remediation"]

    # Run metadata: the inventory's SHA-256, the runner, the user; never the password.
    meta = results["run"]
    assert meta["inventory_sha256"] == hashlib.sha256(BROKEN.read_bytes()).hexdigest()
    assert meta["user"] == getpass.getuser() and meta["runner_host"]
    assert meta["exit_status"] == 1 and meta["start_time"] <= meta["finish_time"]
    for path in run.reports.iterdir():
        assert LAB_PASSWORD.encode() not in path.read_bytes(), path

    # remediation.ps1: one guarded block per failure, grouped by server, nothing armed.
    script = run.remediation()
    lines = script.splitlines()
    assert all(line.startswith("#") for line in lines if line.strip()), "an executable line"
    blocks = re.findall(r"^#region \d+: (\S+) on (.*)$", script, re.MULTILINE)
    assert len(blocks) == len(failed) == script.count("\n#endregion")
    assert ("OUT-01", "DB01") in blocks
    groups = dict(
        re.findall(r"^# ===== (\S+) =====\r?\n(.*?)(?=^# =====|\Z)", script, re.MULTILINE | re.DOTALL)
    )
    assert "mbx01.contoso.lab" in groups
    block = next(
        b
        for b in re.findall(r"^#region .*?^#endregion", groups["mbx01.contoso.lab"], re.M | re.S)
        if "DB01" in b
    )
    assert "# requirement: OUT-01 [critical]" in block
    assert f"# observed:    {out01['observed']}" in block
    assert '# Get-MailboxDatabase "DB01" | Set-MailboxDatabase -RpcClientAccessServer' in block

    # HTML: matrix and totals at the top, metadata in the environment table.
    html = run.html()
    assert 'id="cas-matrix"' in html and 'id="cas-totals"' in html
    assert "Inventory SHA-256" in html and meta["inventory_sha256"] in html

    # Progress: which server is collected, how many are done, how long each took.
    out = run.out
    assert re.search(r"cas-conformance: collecting mbx01\.contoso\.lab \(\d/4 started\)", out)
    assert re.search(r"cas-conformance: \[4/4\] collected \S+ in \d+\.\d s: ok", out)
    assert "results.json: " in out and "remediation.ps1: " in out


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_hostile_strings_stay_text_in_ids_and_cells(pytester: pytest.Pytester) -> None:
    run = run_hostile_strings(pytester)
    assert run.ret == 1
    tests = run.results()["tests"]
    hostile = [t for t in tests if "<script>" in t["object"] + t["remediation"] + t["observed"]]
    assert hostile, "the fault put no markup into the facts"
    assert any(t["outcome"] == "failed" and "<img src=x" in t["remediation"] for t in hostile)
    # Every test id is sanitized where it is built (pytest-html 4.2 would insert it unescaped).
    for nodeid in (t["nodeid"] for t in tests):
        params = nodeid.partition("[")[2]
        assert not set(params) & set("<>&\"'`"), nodeid

    # Every row cell pytest-html will innerHTML holds only the elements we put there.
    import html as html_module
    import json

    page = run.html()
    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob is not None
    data = json.loads(html_module.unescape(blob.group(1)))
    cells = [c for rows in data["tests"].values() for row in rows for c in row["resultsTableRow"]]
    parser = _Tags()
    for cell in cells:
        parser.feed(cell)
    assert set(parser.tags) <= {"td", "pre"}, set(parser.tags)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in c for c in cells)
    # And nothing outside the blob carries the markup raw (summary, matrix, environment).
    assert "<img src=x" not in page.replace(blob.group(1), "")

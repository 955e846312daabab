"""Waivers: active ones waive (xfail), expired ones fail saying so, unmatched ones are reported;
a bad file is a usage error with file:line; under xdist results.json is written once, complete."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import jsonschema
import pytest

from cas_conformance.report.records import TestRecord
from cas_conformance.report.results_json import load_schema
from cas_conformance.report.waivers import (
    WaiverFileError,
    parse_waivers,
    pattern_regex,
    waiver_usage,
)
from tests.report.suite_runs import BROKEN, ROOT, run_suite

OUT01 = (
    "tests_cas/test_outlook2007_cannot_open_mailbox.py::test_rpc_client_access_server_is_client_access[DB01]"
)
EVENT106 = "tests_cas/test_rpc_client_access_event_106.py::test_no_event_106[mbx01]"

WAIVERS = f"""\
# The change board accepted these.
[[waiver]]
requirement = "OUT-01"
object = "DB01"
reason = "DB01 moves to the new array in CHG-1234"
owner = "jane.doe@contoso.com"
expires = 2099-12-31

[[waiver]]
test = "{EVENT106}"
reason = "counters are rebuilt in the next window"
owner = "john.smith@contoso.com"
expires = 2020-01-31

[[waiver]]
requirement = "CERT-01"
object = "no-such-certificate*"
reason = "a typo nobody noticed"
owner = "nobody@contoso.com"
expires = "2099-01-01"
"""


def _inventory_with_waivers(pytester: pytest.Pytester) -> Path:
    """broken.ini copied next to a waivers.toml (found by default, as users keep them)."""
    folder = pytester.path / "site"
    folder.mkdir()
    text = BROKEN.read_text().replace(
        "lab_scenario = broken.toml", f"lab_scenario = {BROKEN.parent / 'broken.toml'}"
    )
    (folder / "broken.ini").write_text(text)
    (folder / "waivers.toml").write_text(WAIVERS)
    return folder / "broken.ini"


def _check_waived_run(run_results: dict[str, object], out: str) -> None:
    jsonschema.validate(run_results, load_schema(), format_checker=jsonschema.FormatChecker())
    tests = {t["nodeid"]: t for t in run_results["tests"]}  # type: ignore[attr-defined]
    assert tests[OUT01]["outcome"] == "waived"
    assert tests[OUT01]["waiver"]["owner"] == "jane.doe@contoso.com"
    assert "DB01 moves to the new array" in tests[OUT01]["message"]
    assert tests[EVENT106]["outcome"] == "failed"
    assert "waiver EXPIRED on 2020-01-31 (owner john.smith@contoso.com" in tests[EVENT106]["message"]
    uses = {u["waiver"]["line"]: u["status"] for u in run_results["waivers"]}  # type: ignore[attr-defined]
    assert uses == {2: "applied", 9: "expired", 15: "unmatched"}
    assert "UNMATCHED waiver (line 15) matches no test of this run" in out
    assert "EXPIRED waiver (line 9) on 2020-01-31, owner john.smith@contoso.com" in out


def test_active_expired_and_unmatched_waivers(pytester: pytest.Pytester) -> None:
    inventory = _inventory_with_waivers(pytester)
    run = run_suite(pytester, "-rxf", inventory=inventory)
    assert run.ret == 1  # other failures remain, and the expired waiver's one counts
    results = run.results()
    _check_waived_run(results, run.out)
    outcomes = run.result.parseoutcomes()
    assert outcomes["xfailed"] == 1 and results["run"]["counts"]["waived"] == 1
    assert results["run"]["waivers_file"] == str(inventory.parent / "waivers.toml")
    # The terminal shows paths relative to where pytest was started.
    lines = run.result.outlines
    assert any(
        line.startswith("XFAIL ") and f"{OUT01} - waived until 2099-12-31 by jane.doe@contoso.com" in line
        for line in lines
    )
    assert any(
        (line.startswith("FAILED ") and line.endswith(EVENT106)) or EVENT106 + " - " in line for line in lines
    )
    # JUnit's failure message starts with the expiry, and still holds the remediation.
    junit = (run.reports / "junit.xml").read_text()
    assert 'message="waiver EXPIRED on 2020-01-31 (owner john.smith@contoso.com' in junit
    assert "Setup.com /mode:install /roles:ClientAccess" in junit
    assert run.junit_outcomes()[OUT01] == "skipped"
    html = run.html()
    assert 'id="cas-waivers"' in html and 'class="cas-cell cas-waived"' in html
    # The waived failure is no remediation to run; the expired one is, and says so.
    script = run.remediation()
    assert 'Get-MailboxDatabase "DB01"' not in script
    assert "# waiver expired on 2020-01-31 (owner john.smith@contoso.com)" in script


def test_xdist_writes_results_once_with_every_worker_test(pytester: pytest.Pytester) -> None:
    inventory = _inventory_with_waivers(pytester)
    serial = run_suite(pytester, inventory=inventory, name="serial")
    parallel = run_suite(pytester, "-n", "2", inventory=inventory, name="parallel", subprocess=True)
    assert parallel.ret == serial.ret == 1
    nodeids = [t["nodeid"] for t in parallel.results()["tests"]]
    assert len(nodeids) == len(set(nodeids)) == len(parallel.junit_outcomes())
    assert parallel.outcomes() == serial.outcomes()
    _check_waived_run(parallel.results(), parallel.out)
    assert parallel.out.count("results.json: ") == 1
    assert not [p.name for p in parallel.reports.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ('[[waiver]]\ntest = "x"\nreason = "r"\nexpires = 2030-01-01\n', ":1:", "'owner'"),
        ('[[waiver]]\ntest = "x"\nreason = "r"\nowner = "o"\n', ":1:", "expires"),
        ('[[waiver]]\ntest = "x"\nreason = "r"\nowner = "o"\nexpires = "soon"\n', ":1:", "date"),
        (
            '# c\n\n[[waiver]]\ntest = "x"\nreason = "r"\nowner = "o"\nexpires = 2030-01-01\nexpiry = 1\n',
            ":3:",
            "expiry",
        ),
        (
            '[[waiver]]\nrequirement = "OUT-99"\nobject = "DB1"\nreason = "r"\nowner = "o"\nexpires = 2030-01-01\n',
            ":1:",
            "OUT-99",
        ),
        (
            '[[waiver]]\nrequirement = "OUT-01"\nreason = "r"\nowner = "o"\nexpires = 2030-01-01\n',
            ":1:",
            "'object'",
        ),
        (
            '[[waiver]]\ntest = "x"\nrequirement = "OUT-01"\nobject = "o"\nreason = "r"\nowner = "o"\nexpires = 2030-01-01\n',
            ":1:",
            "either",
        ),
        ('[[waiver]]\ntest = "x\nreason = "r"\n', ":2:", "TOML"),
        ('[waiver]\ntest = "x"\n', ":", "array of tables"),
        ("waivers = []\n", ":", "top-level"),
    ],
)
def test_bad_waiver_files_name_file_and_line(text: str, where: str, message: str) -> None:
    with pytest.raises(WaiverFileError, match=message) as info:
        parse_waivers(text, "w.toml")
    assert str(info.value).startswith(f"w.toml{where}")


def test_bad_waiver_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "w.toml"
    bad.write_text('[[waiver]]\ntest = "x"\nreason = "r"\nexpires = 2030-01-01\n')
    run = run_suite(pytester, f"--waivers={bad}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{bad}:1: waiver needs a non-empty 'owner'" in run.result.stderr.str()


def test_patterns_treat_brackets_literally_and_expiry_is_inclusive() -> None:
    regex = pattern_regex("tests_cas/t.py::test_x[cas0?-*]")
    assert regex.fullmatch("tests_cas/t.py::test_x[cas01-owa (Default Web Site)]")
    assert not regex.fullmatch("tests_cas/t.py::test_x[cas10-owa]")
    assert not pattern_regex("test_x[ab]").fullmatch("test_xa")
    waivers = parse_waivers(
        '[[waiver]]\nrequirement = "OWA-01"\nobject = "CAS0?\\\\owa*"\nreason = "r"\nowner = "o"\nexpires = 2030-06-30\n',
        "w.toml",
    )
    (waiver,) = waivers.waivers
    assert waivers.find("n", "OWA-01", "CAS01\\owa (Default Web Site)") is waiver
    assert waivers.find("n", "OWA-02", "CAS01\\owa (Default Web Site)") is None
    assert not waiver.expired(date(2030, 6, 30)) and waiver.expired(date(2030, 7, 1))
    uses = waiver_usage(
        waivers,
        [TestRecord("n", requirement="OWA-01", object="CAS02\\owa", outcome="passed")],
        date(2030, 1, 1),
    )
    assert uses[0].status == "not-needed"
    uses = waiver_usage(
        waivers,
        [TestRecord("n", requirement="OWA-01", object="CAS02\\owa", outcome="error")],
        date(2030, 1, 1),
    )
    assert uses[0].status == "errors-only"


def test_example_waivers_file_parses() -> None:
    example = ROOT / "waivers.example.toml"
    waivers = parse_waivers(example.read_text(), str(example))
    assert len(waivers.waivers) >= 2
    assert {w.test is None for w in waivers.waivers} == {True, False}

"""Migration gates: --baseline judges regressions only, in the exit status, terminal and HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cas_conformance.report.gate import (
    Baseline,
    GateError,
    GatePolicy,
    compare,
    load_baseline,
    parse_gate_options,
)
from cas_conformance.report.records import TestRecord
from tests.report.suite_runs import HEALTHY, run_suite

FAILBACK = "tests_cas/test_owa_failback_url.py::test_failback_url_set[cas01-owa (Default Web Site)]"


def test_healthy_baseline_then_one_fault_then_back(pytester: pytest.Pytester) -> None:
    healthy = run_suite(pytester, inventory=HEALTHY, name="healthy")
    assert healthy.ret == 0
    baseline = healthy.reports / "results.json"

    # One fault, judged against the healthy baseline: exit 1, the gate names exactly the regressions.
    faulty = run_suite(
        pytester,
        "--lab-fault",
        "owa-failback-missing",
        f"--baseline={baseline}",
        inventory=HEALTHY,
        name="faulty",
    )
    assert faulty.ret == 1
    before, now = healthy.outcomes(), faulty.outcomes()
    expected = {n for n, o in now.items() if o in ("failed", "error") and before.get(n) == "passed"}
    assert expected == {FAILBACK}
    gate = faulty.results()["gate"]
    assert {c["nodeid"] for c in gate["regressions"]} == expected and not gate["passed"]
    assert gate["new_failures"] == [] and gate["fixed"] == []
    assert faulty.results()["run"]["exit_status"] == 1
    regression_lines = [line for line in faulty.result.outlines if line.startswith("REGRESSION: ")]
    assert regression_lines == [f"REGRESSION: {FAILBACK} (passed -> failed)"]
    assert "gate FAILED" in faulty.out
    html = faulty.html()
    assert 'id="cas-gate"' in html and "Gate FAILED" in html and "test_failback_url_set[cas01-owa" in html

    # Reverse: the faulty run is the baseline, the healthy run fixes it: exit 0, the fix listed.
    fixed = run_suite(
        pytester, f"--baseline={faulty.reports / 'results.json'}", inventory=HEALTHY, name="fixed"
    )
    assert fixed.ret == 0
    assert f"fixed: {FAILBACK} (failed -> passed)" in fixed.result.outlines
    assert [c["nodeid"] for c in fixed.results()["gate"]["fixed"]] == [FAILBACK]
    assert "gate PASSED" in fixed.out

    # Known failures alone do not fail a gate: the same fault against itself exits 0.
    same = run_suite(
        pytester,
        "--lab-fault",
        "owa-failback-missing",
        f"--baseline={faulty.reports / 'results.json'}",
        inventory=HEALTHY,
        name="same",
    )
    assert same.result.parseoutcomes()["failed"] == 1
    assert same.ret == 0, same.out

    # A failing test the baseline never had is a new failure: blocks, unless allowed.
    partial = json.loads(baseline.read_text())
    partial["tests"] = [t for t in partial["tests"] if t["nodeid"] != FAILBACK]
    trimmed = pytester.path / "trimmed.json"
    trimmed.write_text(json.dumps(partial))
    new = run_suite(
        pytester,
        "--lab-fault",
        "owa-failback-missing",
        f"--baseline={trimmed}",
        inventory=HEALTHY,
        name="new",
    )
    assert new.ret == 1 and [c["nodeid"] for c in new.results()["gate"]["new_failures"]] == [FAILBACK]
    allowed = run_suite(
        pytester,
        "--lab-fault",
        "owa-failback-missing",
        f"--baseline={trimmed}",
        "--gate",
        "new-failures=allow",
        inventory=HEALTHY,
        name="allowed",
    )
    assert allowed.ret == 0, allowed.out


def test_bad_baseline_is_a_usage_error_before_any_connection(pytester: pytest.Pytester) -> None:
    bogus = pytester.path / "bogus.json"
    bogus.write_text('{"schema": "something/else", "tests": []}')
    run = run_suite(pytester, f"--baseline={bogus}", inventory=HEALTHY)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "cas-conformance/results/1" in run.result.stderr.str()
    assert "collecting" not in run.out
    run = run_suite(pytester, "--gate", "new-failures=maybe", inventory=HEALTHY, name="bad-gate")
    assert run.ret == pytest.ExitCode.USAGE_ERROR


def _rec(nodeid: str, outcome: str) -> TestRecord:
    return TestRecord(nodeid, requirement="OUT-01", outcome=outcome)


def test_compare_sorts_each_change() -> None:
    baseline = Baseline(
        "b.json",
        {
            "a": "passed",
            "b": "failed",
            "c": "skipped",
            "d": "error",
            "e": "passed",
            "f": "waived",
            "gone": "passed",
        },
        "",
    )
    records = [
        _rec("a", "error"),  # regression
        _rec("b", "passed"),  # fixed
        _rec("c", "failed"),  # had no verdict: new failure
        _rec("d", "error"),  # still failing
        _rec("e", "waived"),  # accepted by a waiver: no regression
        _rec("f", "passed"),  # fixed
        _rec("n", "failed"),  # new test, failing: new failure
        _rec("m", "passed"),  # new test, passing
    ]
    gate = compare(baseline, records, GatePolicy())
    assert [c.nodeid for c in gate.regressions] == ["a"]
    assert [c.nodeid for c in gate.fixed] == ["b", "f"]
    assert [c.nodeid for c in gate.new_failures] == ["c", "n"]
    assert [c.nodeid for c in gate.still_failing] == ["d"]
    assert [c.nodeid for c in gate.new] == ["n", "m"]
    assert [c.nodeid for c in gate.missing] == ["gone"]
    assert not gate.passed and [c.nodeid for c in gate.blocking] == ["a", "c", "n"]
    allowed = compare(baseline, records, GatePolicy(new_failures="allow"))
    assert [c.nodeid for c in allowed.blocking] == ["a"]
    assert compare(baseline, [_rec("a", "passed")], GatePolicy()).passed


def test_gate_options_and_baseline_files(tmp_path: Path) -> None:
    assert parse_gate_options([]) == GatePolicy("fail")
    assert parse_gate_options(["new-failures=allow"]) == GatePolicy("allow")
    for bad in ("new-failures", "old-failures=allow", "new-failures=sometimes"):
        with pytest.raises(GateError):
            parse_gate_options([bad])
    path = tmp_path / "r.json"
    for text, message in (
        ("not json", "cannot read"),
        ('{"schema": "cas-conformance/results/1", "tests": {}}', "must be a list"),
        ('{"schema": "cas-conformance/results/1", "tests": [{"outcome": "passed"}]}', "no nodeid"),
        ('{"schema": "cas-conformance/results/1", "tests": [{"nodeid": "x", "outcome": "ok"}]}', "outcome"),
    ):
        path.write_text(text)
        with pytest.raises(GateError, match=message):
            load_baseline(path)
    path.write_text('{"schema": "cas-conformance/results/1", "run": {"start_time": "T"}, "tests": []}')
    assert load_baseline(path).started == "T"

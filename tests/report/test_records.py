"""Folding pytest's reports into one record per test, after xdist's serialization round trip."""

from __future__ import annotations

from typing import Any

from _pytest.reports import TestReport

from cas_conformance.report.records import RecordCollector, canonical_server, server_aliases

PROPS = [
    ("requirement", "OUT-01"),
    ("severity", "critical"),
    ("server", "mbx01.contoso.lab"),
    ("object", "DB01"),
]


def _report(nodeid: str, when: str, outcome: str, longrepr: Any = None, **extra: Any) -> TestReport:
    report = TestReport(nodeid, ("f.py", 1, nodeid), {}, outcome, longrepr, when, user_properties=PROPS)
    for name, value in extra.items():
        setattr(report, name, value)
    # What the xdist controller receives: the report through JSON (user_properties as lists).
    return TestReport._from_json(report._to_json())


def test_each_phase_sets_the_outcome() -> None:
    collector = RecordCollector()
    phases = {
        "t::pass": [
            ("setup", "passed", None, {}),
            ("call", "passed", None, {}),
            ("teardown", "passed", None, {}),
        ],
        "t::fail": [("setup", "passed", None, {}), ("call", "failed", "boom\nfix it", {})],
        "t::skip": [("setup", "skipped", ("f.py", 1, "Skipped: OUT-01 does not apply: 2013"), {})],
        "t::error": [("setup", "failed", "could not check: timeout", {})],
        "t::waived": [("call", "skipped", "boom", {"wasxfail": "waived until 2030-01-01 by jane: move"})],
        "t::teardown": [("call", "passed", None, {}), ("teardown", "failed", "teardown broke", {})],
    }
    for nodeid, steps in phases.items():
        for when, outcome, longrepr, extra in steps:
            collector.add(_report(nodeid, when, outcome, longrepr, **extra))
    records = {r.nodeid: r for r in collector}
    outcomes = {n: r.outcome for n, r in records.items()}
    assert outcomes == {
        "t::pass": "passed",
        "t::fail": "failed",
        "t::skip": "skipped",
        "t::error": "error",
        "t::waived": "waived",
        "t::teardown": "error",
    }
    assert records["t::skip"].message == "OUT-01 does not apply: 2013"
    assert records["t::waived"].message == "waived until 2030-01-01 by jane: move"
    assert records["t::fail"].message == "boom\nfix it"
    assert records["t::fail"].server == "mbx01.contoso.lab" and records["t::fail"].object == "DB01"


def test_server_names_become_inventory_hosts() -> None:
    aliases = server_aliases(
        [("cas01.contoso.lab", "CAS01"), ("mbx01.contoso.lab", "MBX01"), ("10.0.0.9", "EX09")]
    )
    assert canonical_server("MBX01", aliases) == "mbx01.contoso.lab"
    assert canonical_server("CAS01\\EWS (Default Web Site)", aliases) == "cas01.contoso.lab"
    assert canonical_server("ex09", aliases) == "10.0.0.9"
    assert canonical_server("MBX77", aliases) == "MBX77"
    assert canonical_server("", aliases) == ""

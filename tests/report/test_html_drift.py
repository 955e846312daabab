"""The drift view and results.json's peer groups, from hand-built records: odd cells marked as the
matrix marks outcomes, no-majority rows mark every member, a group of one says why, all escaped."""

from __future__ import annotations

import json
import re
from datetime import date

import jsonschema

from cas_conformance.report.html_drift import drift_html
from cas_conformance.report.html_summary import summary_html
from cas_conformance.report.records import TestRecord
from cas_conformance.report.results_json import build_results, load_schema

HOSTILE = "<img src=x onerror=alert(1)>"
HQ = {
    "group": "HQ",
    "basis": "CAS array outlook.contoso.lab",
    "members": ["CAS01", "CAS02", "CAS03"],
    "unplaced": [],
}


def _rec(
    prop: str, outcome: str, values: dict[str, str], majority: str | None, odd: list[str], **group: object
) -> TestRecord:
    row = {
        "notes": [],
        **HQ,
        **group,
        "requirement": "DRIFT-01",
        "property": prop,
        "label": prop,
        "values": values,
    }
    row.update(majority=majority, odd=odd)
    rec = TestRecord(f"tests_cas/test_drift.py::t[HQ-{prop}]", requirement="DRIFT-01", outcome=outcome)
    rec.props["drift"] = json.dumps(row)
    return rec


def _cells(html: str, prop: str) -> list[tuple[str, str, str]]:
    row = re.search(rf'data-property="{prop}">(.*?)</tr>', html)
    assert row is not None, prop
    return re.findall(
        r'data-outcome="(\w+)"[^>]*><span class="cas-symbol">(.*?)</span>(.*?)</td>', row.group(1)
    )


def test_odd_cells_carry_the_outcome_symbol_and_colour() -> None:
    same = {"CAS01": "mail.contoso.lab", "CAS02": "mail.contoso.lab", "CAS03": "mail.contoso.lab"}
    odd = {**same, "CAS03": "webmail.contoso.lab"}
    records = [
        _rec("owa-external-host", "passed", same, "mail.contoso.lab", []),
        _rec("ews-external-host", "failed", odd, "mail.contoso.lab", ["CAS03"]),
        _rec("oab-external-host", "waived", odd, "mail.contoso.lab", ["CAS03"]),
        _rec(
            "oa-client-auth",
            "failed",
            {"CAS01": "Basic", "CAS02": "Ntlm", "CAS03": "Negotiate"},
            None,
            ["CAS01", "CAS02", "CAS03"],
        ),
    ]
    html = drift_html(records)
    assert "Peer group HQ (CAS array outlook.contoso.lab): CAS01, CAS02, CAS03" in html
    assert _cells(html, "owa-external-host") == [("passed", "\u2713", "mail.contoso.lab")] * 3
    assert _cells(html, "ews-external-host") == [
        ("passed", "\u2713", "mail.contoso.lab"),
        ("passed", "\u2713", "mail.contoso.lab"),
        ("failed", "\u2717", "webmail.contoso.lab"),
    ]
    assert _cells(html, "oab-external-host")[2] == ("waived", "W", "webmail.contoso.lab")
    assert [c[0] for c in _cells(html, "oa-client-auth")] == ["failed"] * 3
    assert 'class="cas-cell cas-failed"' in html  # the matrix's classes, so the matrix's colours


def test_group_of_one_and_unjudged_tests() -> None:
    single = _rec(
        "owa-external-host", "skipped", {}, None, [], group="DR", basis="AD site DR", members=["EX01"]
    )
    single.message = "DRIFT-01 does not apply: peer group DR (AD site DR) has one member (EX01)"
    errored = TestRecord(
        "tests_cas/test_drift.py::t[cas02]",
        requirement="DRIFT-02",
        outcome="error",
        message="could not check",
    )
    html = drift_html([single, errored])
    assert (
        "has one member (EX01)" in html
        and "<table" not in html.split("Not compared")[0].split("DR (AD site DR)")[1]
    )
    assert "Not compared" in html and "t[cas02]: could not check" in html
    assert drift_html([TestRecord("t::x", requirement="OUT-01")]) == ""


def test_every_value_is_escaped_in_the_view() -> None:
    rec = _rec(
        "owa-external-host",
        "failed",
        {"CAS01": HOSTILE, "CAS02": "a"},
        None,
        ["CAS01", "CAS02"],
        group=HOSTILE,
        members=["CAS01", "CAS02"],
    )
    rec.props["drift"] = rec.props["drift"].replace('"notes": []', f'"notes": [{json.dumps(HOSTILE)}]')
    html = summary_html([rec])
    assert HOSTILE.replace("<", "&lt;").replace(">", "&gt;") in html.split("cas-drift-note")[1]
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'id="cas-drift"' in html


def test_results_json_carries_the_peer_groups_and_validates() -> None:
    records = [
        _rec(
            "owa-external-host",
            "failed",
            {"CAS01": "a", "CAS02": "a", "CAS03": "b"},
            "a",
            ["CAS03"],
            notes=["IIS certificates by thumbprint: CAS01 AA; CAS03 BB"],
        ),
        TestRecord("t::other", requirement="OUT-01", outcome="passed"),
    ]
    run = {
        "inventory": "i.ini",
        "inventory_sha256": "0" * 64,
        "suite_version": "0",
        "start_time": "2026-01-01T00:00:00+00:00",
        "finish_time": "2026-01-01T00:00:01+00:00",
        "runner_host": "h",
        "user": "u",
        "exit_status": 1,
    }
    document = build_results(run=run, records=records, today=date(2026, 1, 1))
    jsonschema.validate(document, load_schema(), format_checker=jsonschema.FormatChecker())
    (group,) = document["peer_groups"]
    assert group["name"] == "HQ" and group["members"] == ["CAS01", "CAS02", "CAS03"]
    (prop,) = group["properties"]
    assert prop["odd"] == ["CAS03"] and prop["majority"] == "a" and prop["outcome"] == "failed"
    assert prop["notes"] == ["IIS certificates by thumbprint: CAS01 AA; CAS03 BB"]
    assert "peer_groups" not in build_results(run=run, records=records[1:], today=date(2026, 1, 1))

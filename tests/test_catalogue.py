"""The catalogue itself: ids well formed and unique, every requirement implemented, tested by the
suite, and tripped by at least one lab fault."""

from __future__ import annotations

import ast
from pathlib import Path

from cas_conformance.checks import CHECKS, drift, subjects
from cas_conformance.domain.catalogue import ID_PATTERN, REQUIREMENTS, Subject
from cas_conformance.lab import FAULTS

ROOT = Path(__file__).resolve().parents[1]


def _suite_requirements() -> list[str]:
    ids = []
    for path in sorted((ROOT / "tests_cas").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "requirement":
                ids.append(node.args[0].value)  # type: ignore[attr-defined]
    return ids


def test_ids_are_well_formed_and_unique() -> None:
    ids = [r.id for r in REQUIREMENTS]
    assert len(ids) == len(set(ids))
    assert all(ID_PATTERN.match(i) for i in ids), ids


def test_every_requirement_has_a_check_and_exactly_one_suite_test() -> None:
    ids = {r.id for r in REQUIREMENTS}
    assert set(CHECKS) == ids
    suite = _suite_requirements()
    assert sorted(suite) == sorted(ids)


def test_every_requirement_is_tripped_by_a_fault() -> None:
    tripped = set().union(*(f.must_fail for f in FAULTS.values()))
    missing = {r.id for r in REQUIREMENTS} - tripped
    assert not missing, f"no lab fault proves these checks can fail: {sorted(missing)}"


def test_fault_ids_exist() -> None:
    ids = {r.id for r in REQUIREMENTS}
    for fault in FAULTS.values():
        assert fault.must_fail | fault.may_fail <= ids, fault.name


def test_each_check_is_parametrized_over_its_declared_subject() -> None:
    enumerators = {
        Subject.SERVER: subjects.servers,
        Subject.CAS: subjects.cas_servers,
        Subject.NON_CAS: subjects.non_cas_servers,
        Subject.DATABASE: subjects.databases,
        Subject.RPC_ENDPOINT: subjects.rpc_endpoints,
        Subject.OWA_VDIR: subjects.owa_vdirs,
        Subject.CERTIFICATE: subjects.certificates,
        Subject.NAME: subjects.names,
        Subject.ENDPOINT: subjects.endpoints,
        Subject.AUTODISCOVER: subjects.smtp_domains,
        Subject.SMTP_DOMAIN: subjects.smtp_domains,
    }
    # DRIFT-*: one enumerator per requirement (its own properties across every peer group)
    assert {r for r, s in CHECKS.items() if s.requirement.subject is Subject.PEER_GROUP} == set(drift.CASES)
    # OUT2003-02 concerns Client Access servers only (online clients poll the CAS, not a PF server)
    exceptions = {"OUT2003-02": subjects.client_access_only, **drift.CASES}
    for spec in CHECKS.values():
        rid = spec.requirement.id
        expected = exceptions[rid] if rid in exceptions else enumerators[spec.requirement.subject]
        assert spec.cases is expected, spec.requirement.id

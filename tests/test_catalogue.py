"""The catalogue itself: ids well formed, unique and written once in the checks (the declaration),
in the reference's order, every requirement tested by the suite and tripped by a lab fault, each
check's subject the one its enumerator carries, and the id of a finding filled in by the framework."""

from __future__ import annotations

import ast
from itertools import groupby
from pathlib import Path

import pytest

from cas_conformance.checks import (
    CHECKS,
    REQUIREMENTS,
    FactsUnavailable,
    Finding,
    drift,
    requirement,
    subjects,
)
from cas_conformance.checks.base import REGISTERED, Case, CheckSpec, Enumerator
from cas_conformance.domain.catalogue import ID_PATTERN, SECTION_VER, SECTIONS, Requirement, Severity, Subject
from cas_conformance.lab import FAULTS

ROOT = Path(__file__).resolve().parents[1]
CHECK_MODULES = sorted((ROOT / "cas_conformance" / "checks").glob("*.py"))


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
    assert set(CHECKS) == set(REGISTERED) == ids
    assert all(requirement(i) is CHECKS[i].requirement for i in ids)
    suite = _suite_requirements()
    assert sorted(suite) == sorted(ids)


def test_each_id_is_written_once_in_the_checks() -> None:
    """The declaration is the only string that is a requirement's id: findings get theirs from
    the framework, and nothing else in the checks types it again."""
    literals: dict[str, list[str]] = {}
    for path in CHECK_MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and ID_PATTERN.match(node.value)
            ):
                literals.setdefault(node.value, []).append(f"{path.name}:{node.lineno}")
    assert set(literals) == set(CHECKS)
    repeated = {rid: where for rid, where in literals.items() if len(where) > 1}
    assert not repeated, f"requirement ids typed more than once in cas_conformance/checks: {repeated}"


def test_the_catalogue_follows_the_reference() -> None:
    """Sections in the reference's order, each in one block; within a section, each id prefix in
    one block, numbered upwards (reports and the docs index list requirements in this order)."""
    assert [section for section, _ in groupby(r.section for r in REQUIREMENTS)] == list(SECTIONS)
    for _, in_section in groupby(REQUIREMENTS, key=lambda r: r.section):
        ids = [r.id.rpartition("-") for r in in_section]
        prefixes = [prefix for prefix, _ in groupby(prefix for prefix, _, _ in ids)]
        assert len(prefixes) == len(set(prefixes)), ids
        for _, numbered in groupby(ids, key=lambda i: i[0]):
            numbers = [int(number) for _, _, number in numbered]
            assert numbers == sorted(numbers), ids


def test_every_requirement_is_tripped_by_a_fault() -> None:
    tripped = set().union(*(f.must_fail for f in FAULTS.values()))
    missing = {r.id for r in REQUIREMENTS} - tripped
    assert not missing, f"no lab fault proves these checks can fail: {sorted(missing)}"


def test_fault_ids_exist() -> None:
    ids = {r.id for r in REQUIREMENTS}
    for fault in FAULTS.values():
        assert fault.must_fail | fault.may_fail <= ids, fault.name


def test_each_subject_has_one_enumerator_that_every_check_of_it_uses() -> None:
    """A check's subject is the one its enumerator carries: one enumerator per subject in
    ``subjects`` (a peer group's are the drift requirements' own), and no check builds its own."""
    enumerators = [e for e in vars(subjects).values() if isinstance(e, Enumerator)]
    by_subject = {e.subject: e for e in enumerators}
    assert len(by_subject) == len(enumerators)
    assert set(by_subject) == set(Subject) - {Subject.PEER_GROUP}
    for spec in CHECKS.values():
        if spec.subject is Subject.PEER_GROUP:
            assert spec.requirement in {d.requirement for d in drift.DRIFTS}
        else:
            assert spec.cases is by_subject[spec.subject], spec.requirement.id
    assert {d.requirement.id for d in drift.DRIFTS} == {
        r for r, s in CHECKS.items() if s.subject is Subject.PEER_GROUP
    }


def _spec(evaluate_result: Finding) -> CheckSpec:
    declared = Requirement("TEST-01", "a requirement of this test", Severity.WARNING, SECTION_VER)
    return CheckSpec(declared, subjects.servers, lambda world, key: evaluate_result)


def test_the_framework_fills_in_the_id_of_each_finding() -> None:
    found = Finding("cas01.contoso.lab", "CAS01", True, "observed", "expected")
    assert found.requirement == ""
    judged = _spec(found).judge(None, Case("cas01", "cas01"))  # type: ignore[arg-type]
    assert judged == Finding(
        "cas01.contoso.lab", "CAS01", True, "observed", "expected", requirement="TEST-01"
    )


def test_a_case_without_facts_is_an_error_naming_the_requirement() -> None:
    found = Finding("cas01.contoso.lab", "CAS01", True, "observed", "expected")
    with pytest.raises(FactsUnavailable, match=r"^TEST-01 on cas01: could not collect"):
        _spec(found).judge(None, Case("cas01", "cas01", "cas01", "could not collect"))  # type: ignore[arg-type]

"""The fault matrix: each lab fault trips exactly the requirements it must (plus at most the
dependent ones it may), and the healthy scenario passes everything. Real sockets throughout."""

from __future__ import annotations

import pytest

from cas_conformance.checks import REQUIREMENTS
from cas_conformance.lab.scenario.faults import FAULTS
from cas_conformance.lab.scenario.model import load_scenario
from tests.lab.conftest import ROOT, run_lab


def _failing(verdicts: list) -> set[str]:  # type: ignore[type-arg]
    return {v.requirement for v in verdicts if v.outcome in ("failed", "error")}


def test_healthy_lab_passes_every_requirement(healthy_verdicts: list) -> None:  # type: ignore[type-arg]
    bad = [
        f"{v.requirement}[{v.case}] {v.outcome}: {v.detail}"
        for v in healthy_verdicts
        if v.outcome in ("failed", "error")
    ]
    assert not bad, "\n".join(bad)
    passed = {v.requirement for v in healthy_verdicts if v.outcome == "passed"}
    assert passed == {r.id for r in REQUIREMENTS}, sorted({r.id for r in REQUIREMENTS} - passed)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_trips_exactly_its_requirements(name: str) -> None:
    fault = FAULTS[name]
    verdicts = run_lab([name])
    failing = _failing(verdicts)
    details = "\n".join(
        f"{v.requirement}[{v.case}] {v.outcome}: {v.detail}"
        for v in verdicts
        if v.outcome in ("failed", "error")
    )
    assert fault.must_fail <= failing, f"{name} did not trip {sorted(fault.must_fail - failing)}\n{details}"
    unexpected = failing - fault.must_fail - fault.may_fail
    assert not unexpected, f"{name} also tripped {sorted(unexpected)}\n{details}"


def test_broken_scenario_shows_every_one_of_its_faults() -> None:
    broken = ROOT / "fixtures" / "lab" / "broken.toml"
    faults = load_scenario(broken).faults
    assert len(faults) >= 10
    failing = _failing(run_lab(scenario=broken))
    for name in faults:
        missing = FAULTS[name].must_fail - failing
        assert not missing, f"{name} does not show in the broken run: {sorted(missing)}"

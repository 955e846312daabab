"""DRIFT-* against the lab over real sockets: each drift fault names the array member it changed,
and a staggered certificate renewal (same names, another thumbprint) passes DRIFT-03."""

from __future__ import annotations

import pytest

from cas_conformance.lab.faults import FAULTS
from tests.lab.conftest import run_lab

DRIFT_FAULTS = sorted(name for name in FAULTS if name.startswith("drift-"))


def test_staggered_certificate_renewal_passes_drift03_and_says_so() -> None:
    verdicts = run_lab(["cert-staggered-renewal"])
    drift03 = [v for v in verdicts if v.requirement == "DRIFT-03" and v.case == "HQ-certificate-names"]
    assert [v.outcome for v in drift03] == ["passed"]
    finding = drift03[0].finding
    assert finding is not None and "staggered renewals" in finding.observed
    thumbprints = next(n for n in finding.notes if n.startswith("IIS certificates by thumbprint"))
    assert "CAS01 " in thumbprints and "CAS02 " in thumbprints


@pytest.mark.parametrize("name", DRIFT_FAULTS)
def test_drift_fault_names_the_member_it_changed(name: str) -> None:
    assert len(DRIFT_FAULTS) == 5
    failed = [v for v in run_lab([name]) if v.outcome == "failed"]
    assert failed and all(v.case.startswith("HQ-") for v in failed), [(v.requirement, v.case) for v in failed]
    for verdict in failed:
        assert verdict.finding is not None and "on CAS02" in verdict.finding.observed, verdict.detail

"""DRIFT-* against the lab over real sockets: each drift fault names the array member it changed,
and a staggered certificate renewal (same names, another thumbprint) passes DRIFT-03."""

from __future__ import annotations

import pytest

from cas_conformance.lab.scenario.faults import FAULTS
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


MAJORITY_FIXES = {
    "drift-outlook-anywhere-auth": 'Set-OutlookAnywhere -Identity "CAS03\\Rpc (Default Web Site)" '
    "-ClientAuthenticationMethod Basic",
    "drift-rpc-encryption": "Set-RpcClientAccess -Server CAS03 -EncryptionRequired $false",
    "drift-certificate-names": "# CAS01 has it (thumbprint ",
    "drift-winhttp-bypass": 'netsh winhttp set proxy proxy-server="proxy.contoso.lab:8080" '
    'bypass-list="<local>;*.contoso.lab"   # on CAS03, elevated (as on CAS01)',
    "drift-exchange-build": "# install Version 14.3 (Build 123.4) on CAS03 (the build most members run",
}


@pytest.mark.parametrize("name", sorted(MAJORITY_FIXES))
def test_with_three_members_the_odd_one_is_set_to_the_majority(name: str) -> None:
    """A third member joins the HQ array first, so two agree: the fix names the odd one."""
    failed = [v for v in run_lab(["array-third-member", name]) if v.outcome == "failed"]
    assert len(failed) == 1 and failed[0].finding is not None, [(v.requirement, v.case) for v in failed]
    finding = failed[0].finding
    assert finding.observed.startswith("CAS03 has ") and "CAS01, CAS02 have " in finding.observed
    assert finding.remediation.startswith(MAJORITY_FIXES[name]), finding.remediation

"""CERT-01..03 on hand-built facts: certificate status, the IIS certificate's names, and expiry,
each failure with the fix for the real server and thumbprint (replacement request, imports of the
issuing CA, the WinHTTP proxy for revocation checks); unread certificates are errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cas_conformance.checks import FactsUnavailable, NotApplicable
from cas_conformance.domain.facts import SectionError
from cas_conformance.evidence.view import EvidenceView
from tests.checks.world_builder import NAMES, NOW, Cas, case_ids, certificate, judge, world

THUMB = "A" * 40
CASE = "cas01-mail.contoso.lab"


def with_cert(
    status: str = "Valid", days_left: int = 365, host_vars: str = "", **cas: object
) -> EvidenceView:
    cert = certificate(NAMES, "B" * 40, status=status, not_after=NOW + timedelta(days=days_left))
    return world(Cas("CAS01", cert_thumbprint="C" * 40, spare_certs=(cert,), host_vars=host_vars, **cas))  # type: ignore[arg-type]


def cert_case(w: EvidenceView) -> str:
    (case,) = [c for c in case_ids(w, "CERT-01") if c.endswith("B" * 12)]
    return case


# --- CERT-01 ----------------------------------------------------------------------------------


def test_cert01_a_valid_certificate_passes() -> None:
    w = world(Cas("CAS01"))
    assert case_ids(w, "CERT-01") == [CASE]
    finding = judge(w, "CERT-01", CASE)
    assert finding.passed, finding.message()
    assert finding.object == f"{THUMB} (CN=mail.contoso.lab; IIS)"


def test_cert01_untrusted_fails_with_the_ca_import_steps() -> None:
    w = with_cert("Untrusted")
    finding = judge(w, "CERT-01", cert_case(w))
    assert not finding.passed and finding.observed == "Status Untrusted"
    assert finding.object.startswith("B" * 40)
    assert "# by hand on CAS01: import the issuing CA's root" in finding.remediation
    assert f"Get-ExchangeCertificate -Server CAS01 -Thumbprint {'B' * 40} | fl Status" in finding.remediation


def test_cert01_revocation_check_failure_fixes_the_declared_proxy() -> None:
    w = with_cert("RevocationCheckFailure", host_vars="winhttp_proxy=proxy.contoso.lab:8080")
    finding = judge(w, "CERT-01", cert_case(w))
    assert not finding.passed
    assert (
        'netsh winhttp set proxy proxy-server="http=proxy.contoso.lab:8080" bypass-list="<local>;*.contoso.lab"'
        in finding.remediation
    )
    assert "certutil -urlcache crl delete" in finding.remediation


def test_cert01_revoked_asks_for_a_replacement_with_every_name() -> None:
    w = with_cert("Revoked")
    finding = judge(w, "CERT-01", cert_case(w))
    assert not finding.passed
    assert "$request = New-ExchangeCertificate -Server CAS01 -GenerateRequest" in finding.remediation
    assert "-DomainName mail.contoso.lab,autodiscover.contoso.lab" in finding.remediation


def test_cert01_unread_certificates_are_an_error_not_zero_cases() -> None:
    w = world(Cas("CAS01", errors=(SectionError("certificate", "Get-ExchangeCertificate: denied"),)))
    assert case_ids(w, "CERT-01") == ["cas01"]
    with pytest.raises(FactsUnavailable, match="could not read certificate"):
        judge(w, "CERT-01", "cas01")


# --- CERT-02 ----------------------------------------------------------------------------------


def test_cert02_a_certificate_naming_every_published_host_passes() -> None:
    w = world(Cas("CAS01", cert_names=("mail.contoso.lab", "*.contoso.lab")))
    finding = judge(w, "CERT-02", "cas01")
    assert finding.passed, finding.message()


def test_cert02_a_missing_internal_name_fails_and_the_request_adds_it() -> None:
    finding = judge(world(Cas("CAS01")), "CERT-02", "cas01")
    assert not finding.passed
    assert finding.object == f"{THUMB} (CN=mail.contoso.lab; IIS)"
    assert finding.observed == "missing cas01.contoso.lab (CAS01\\owa (Default Web Site) InternalUrl)"
    assert "-DomainName mail.contoso.lab,autodiscover.contoso.lab,cas01.contoso.lab" in finding.remediation


def test_cert02_no_iis_certificate_fails_with_the_enable_command() -> None:
    w = world(Cas("CAS01", extra={"certificates": (certificate(NAMES, THUMB, services=("SMTP",)),)}))
    finding = judge(w, "CERT-02", "cas01")
    assert not finding.passed and finding.observed == "no certificate assigned to IIS"
    assert (
        finding.remediation
        == "Enable-ExchangeCertificate -Server CAS01 -Thumbprint <thumbprint> -Services IIS"
    )


def test_cert02_does_not_apply_without_the_client_access_role() -> None:
    with pytest.raises(NotApplicable, match="MBX01 has no Client Access role"):
        judge(world(Cas("MBX01", client_access=False)), "CERT-02", "mbx01")


@pytest.mark.parametrize("section", ["certificate", "vdir"])
def test_cert02_unread_sections_are_an_error(section: str) -> None:
    with pytest.raises(FactsUnavailable, match="could not be read"):
        judge(world(Cas("CAS01", errors=(SectionError(section, "denied"),))), "CERT-02", "cas01")


# --- CERT-03 ----------------------------------------------------------------------------------


def test_cert03_a_certificate_with_months_left_passes() -> None:
    w = with_cert(days_left=90)
    finding = judge(w, "CERT-03", cert_case(w))
    assert finding.passed, finding.message()


@pytest.mark.parametrize(("days", "observed"), [(10, "(10 days left)"), (-3, "expired on 2025-12-29")])
def test_cert03_expiring_or_expired_fails_with_the_replacement(days: int, observed: str) -> None:
    w = with_cert(days_left=days)
    finding = judge(w, "CERT-03", cert_case(w))
    assert not finding.passed and observed in finding.observed
    assert f"# certificate {'B' * 40} is used on CAS01" in finding.remediation


def test_cert03_the_warning_window_is_the_inventorys() -> None:
    w = with_cert(days_left=10, host_vars="cert_expiry_warning_days=5")
    assert judge(w, "CERT-03", cert_case(w)).passed


def test_cert03_facts_without_the_local_server_are_an_error() -> None:
    w = with_cert(extra={"local_server": "GHOST"})
    with pytest.raises(FactsUnavailable, match="GHOST"):
        judge(w, "CERT-03", cert_case(w))

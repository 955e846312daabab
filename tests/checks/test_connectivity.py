"""CONN-01..07 on hand-built records: DNS answers, TLS handshakes (chains from a test certificate
authority), revocation results, HTTP, Autodiscover and SMTP probes put on the EvidenceView by hand, as the
runner would have gathered them; a record that was never gathered is an error, never a pass."""

from __future__ import annotations

from typing import Any

import pytest

from cas_conformance.channels.http import HttpProbe
from cas_conformance.channels.revocation import RevocationResult
from cas_conformance.channels.smtp import SmtpProbe
from cas_conformance.checks import FactsUnavailable, NotApplicable
from cas_conformance.checks.base import Finding
from cas_conformance.domain.facts import MailboxDatabase, VdirKind
from cas_conformance.domain.records.dns import DnsAnswer
from cas_conformance.evidence.view import Endpoint, EvidenceView
from cas_conformance.lab import Pki
from tests.checks.world_builder import Cas, a_record, case_ids, handshake, judge, leaf, world

MAIL = "mail.contoso.lab"
#: published by every world here: Autodiscover for the servers' mail domain
AUTODISCOVER_NAME = "autodiscover.contoso.lab"
OCSP = RevocationResult("ocsp", "good", "http://pki.contoso.lab/ocsp", "")


def published(*cas: Cas, **fields: Any) -> EvidenceView:
    """CAS01 (or *cas*) whose virtual directories publish mail.contoso.lab only (the inventory
    publishes it too), with the records in *fields*."""
    return world(*(cas or (Cas("CAS01", internal_host=MAIL),)), published=(MAIL,), **fields)


# --- CONN-01 ----------------------------------------------------------------------------------


def test_conn01_a_name_with_an_a_record_passes() -> None:
    w = published(dns=(a_record(MAIL, "10.0.0.5"),))
    assert case_ids(w, "CONN-01") == [AUTODISCOVER_NAME, MAIL]
    finding = judge(w, "CONN-01", MAIL)
    assert finding.passed, finding.message()
    assert finding.observed == "NOERROR 10.0.0.5 (resolver saved facts)"


def test_conn01_an_unresolved_name_fails_with_the_record_to_add() -> None:
    finding = judge(published(dns=(a_record(MAIL),)), "CONN-01", MAIL)
    assert not finding.passed and finding.object == MAIL
    assert finding.remediation.startswith("dnscmd . /RecordAdd contoso.lab mail A <published-ip>")


def test_conn01_an_uncollected_server_is_an_error_case() -> None:
    w = published(Cas("CAS01", collected=False))
    assert case_ids(w, "CONN-01") == [AUTODISCOVER_NAME, MAIL, "cas01"]
    with pytest.raises(FactsUnavailable, match="connection refused"):
        judge(w, "CONN-01", "cas01")


# --- CONN-02 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [None, "handshake failed: unexpected EOF"])
def test_conn02_a_tcp_connection_passes_whatever_tls_does_next(error: str | None) -> None:
    finding = judge(published(tls={MAIL: handshake(MAIL, error=error)}), "CONN-02", MAIL)
    assert finding.passed, finding.message()
    assert finding.observed == "connected to 10.0.0.5:443"


@pytest.mark.parametrize("error", ["connection refused", "timed out (TCP connect)"])
def test_conn02_a_refused_connection_fails(error: str) -> None:
    finding = judge(published(tls={MAIL: handshake(MAIL, error=error)}), "CONN-02", MAIL)
    assert not finding.passed and finding.observed == error
    assert finding.object == f"{MAIL}:443" and finding.remediation.startswith(f"publish {MAIL}:443")


def test_conn02_no_handshake_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="no TLS handshake"):
        judge(published(), "CONN-02", MAIL)


# --- CONN-03 ----------------------------------------------------------------------------------


def test_conn03_a_trusted_chain_for_the_name_passes(pki: Pki) -> None:
    w = published(tls={MAIL: handshake(MAIL, leaf(pki, MAIL))}, trust_roots=[pki.root])
    finding = judge(w, "CONN-03", MAIL)
    assert finding.passed, finding.message()


def test_conn03_a_certificate_for_another_name_fails_naming_both(pki: Pki) -> None:
    w = published(tls={MAIL: handshake(MAIL, leaf(pki, "owa.fabrikam.com"))}, trust_roots=[pki.root])
    finding = judge(w, "CONN-03", MAIL)
    assert not finding.passed
    assert finding.object.startswith(f"{MAIL} (") and MAIL in finding.observed
    assert "leaf names: owa.fabrikam.com" in finding.notes
    assert f"# replace the certificate served for {MAIL} with one from a trusted CA that names {MAIL}" in (
        finding.remediation
    )


def test_conn03_an_untrusted_root_and_a_failed_handshake_fail(pki: Pki) -> None:
    assert not judge(published(tls={MAIL: handshake(MAIL, leaf(pki, MAIL))}), "CONN-03", MAIL).passed
    finding = judge(published(tls={MAIL: handshake(MAIL, error="connection refused")}), "CONN-03", MAIL)
    assert not finding.passed and finding.remediation == "fix the connection first (CONN-01/CONN-02)"


def test_conn03_no_handshake_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="no TLS handshake"):
        judge(published(), "CONN-03", MAIL)


# --- CONN-04 ----------------------------------------------------------------------------------


def revocation(pki: Pki, result: RevocationResult | None) -> EvidenceView:
    return published(
        tls={MAIL: handshake(MAIL, leaf(pki, MAIL))}, revocation={MAIL: result} if result else {}
    )


def test_conn04_ocsp_good_passes(pki: Pki) -> None:
    finding = judge(revocation(pki, OCSP), "CONN-04", MAIL)
    assert finding.passed, finding.message()
    assert finding.observed == "ocsp: good at http://pki.contoso.lab/ocsp"


def test_conn04_a_revoked_certificate_fails_with_its_replacement(pki: Pki) -> None:
    finding = judge(revocation(pki, RevocationResult("ocsp", "revoked", OCSP.url, "")), "CONN-04", MAIL)
    assert not finding.passed and finding.object == MAIL
    assert (
        finding.remediation
        == f"replace the revoked certificate served for {MAIL} and enable the new one for IIS"
    )


@pytest.mark.parametrize("status", ["unreachable", "unknown", "error"])
def test_conn04_an_unanswered_or_unknown_status_fails(pki: Pki, status: str) -> None:
    result = RevocationResult("ocsp", status, OCSP.url, "timed out")  # type: ignore[arg-type]
    finding = judge(revocation(pki, result), "CONN-04", MAIL)
    assert not finding.passed
    assert finding.observed == f"ocsp: {status} at http://pki.contoso.lab/ocsp (timed out)"


def test_conn04_a_good_crl_with_an_unanswered_ocsp_url_fails(pki: Pki) -> None:
    crl = RevocationResult("crl", "good", "http://pki.contoso.lab/crl/intermediate.crl", "")
    finding = judge(revocation(pki, crl), "CONN-04", MAIL)
    assert not finding.passed
    assert finding.remediation.startswith("make http://pki.contoso.lab/ocsp reachable from clients")


def test_conn04_a_failed_handshake_fails_and_no_check_is_an_error(pki: Pki) -> None:
    refused = published(tls={MAIL: handshake(MAIL, error="connection refused")})
    assert not judge(refused, "CONN-04", MAIL).passed
    with pytest.raises(FactsUnavailable, match="no revocation check was made"):
        judge(revocation(pki, None), "CONN-04", MAIL)


# --- CONN-05 ----------------------------------------------------------------------------------

EWS = f"https://{MAIL}/EWS/Exchange.asmx"
OWA = f"https://{MAIL}/owa"
EWS_VDIR = Endpoint(
    EWS, "ews", ("Basic", "WindowsIntegrated"), "CAS01\\EWS (Default Web Site)", "cas01.contoso.lab"
)


def probed(url: str, endpoint: Endpoint, probe: HttpProbe | None) -> EvidenceView:
    """CAS01 publishing *endpoint* only (one virtual directory of its kind and methods)."""
    cas = Cas(
        "CAS01",
        internal_host=MAIL,
        oa_host=None,
        vdir_kinds=(VdirKind(endpoint.kind),),
        vdir_auth=endpoint.auth,
    )
    w = published(cas, http={url: probe} if probe else {})
    assert sorted(w.endpoints) == sorted([url, f"https://{AUTODISCOVER_NAME}/Autodiscover/Autodiscover.xml"])
    return w


def test_conn05_ews_asking_for_the_configured_methods_passes() -> None:
    probe = HttpProbe(EWS, "GET", 401, EWS, www_authenticate=("Negotiate", "NTLM", "Basic"))
    w = probed(EWS, EWS_VDIR, probe)
    assert case_ids(w, "CONN-05") == [
        f"{AUTODISCOVER_NAME}/Autodiscover/Autodiscover.xml",
        f"{MAIL}/EWS/Exchange.asmx",
    ]
    finding = judge(w, "CONN-05", f"{MAIL}/EWS/Exchange.asmx")
    assert finding.passed, finding.message()


def test_conn05_owa_redirecting_to_its_sign_in_page_passes() -> None:
    probe = HttpProbe(OWA, "GET", 200, f"{OWA}/auth/logon.aspx", redirects=((302, f"{OWA}/auth/logon.aspx"),))
    finding = judge(probed(OWA, Endpoint(OWA, "owa"), probe), "CONN-05", f"{MAIL}/owa")
    assert finding.passed, finding.message()


def test_conn05_a_missing_method_fails_with_the_virtual_directory_to_read() -> None:
    probe = HttpProbe(EWS, "GET", 401, EWS, www_authenticate=("Basic",))
    finding = judge(probed(EWS, EWS_VDIR, probe), "CONN-05", f"{MAIL}/EWS/Exchange.asmx")
    assert not finding.passed
    assert finding.object == EWS and finding.server == "cas01.contoso.lab"
    assert finding.expected == "HTTP 401 offering basic, negotiate"
    assert finding.remediation.endswith(
        'Get-WebServicesVirtualDirectory -Identity "CAS01\\EWS (Default Web Site)" | fl *Url*,*Auth*'
    )


def test_conn05_an_owa_error_page_fails() -> None:
    probe = HttpProbe(OWA, "GET", 500, OWA)
    finding = judge(probed(OWA, Endpoint(OWA, "owa"), probe), "CONN-05", f"{MAIL}/owa")
    assert not finding.passed and finding.observed == "HTTP 500"
    assert finding.remediation.startswith(f"# check what answers {OWA}")


def test_conn05_an_unprobed_endpoint_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="was not probed"):
        judge(probed(EWS, EWS_VDIR, None), "CONN-05", f"{MAIL}/EWS/Exchange.asmx")


# --- CONN-06 ----------------------------------------------------------------------------------

AUTODISCOVER = "https://autodiscover.contoso.lab/Autodiscover/Autodiscover.xml"
CREDENTIALS = "probe_credentials=CAS_PROBE"


def autodiscover_xml(exch: str, expr: str) -> str:
    ns = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    protocols = "".join(
        f"<Protocol><Type>{kind}</Type><Server>{server}</Server></Protocol>"
        for kind, server in (("EXCH", exch), ("EXPR", expr))
    )
    return (
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
        f'<Response xmlns="{ns}"><Account>{protocols}</Account></Response></Autodiscover>'
    )


def discovered(probe: HttpProbe | None, group_vars: str = CREDENTIALS) -> EvidenceView:
    dbs = (MailboxDatabase("DB01", "CAS01", "outlook.contoso.lab"),)
    return world(
        Cas("CAS01", extra={"databases": dbs}),
        group_vars=group_vars,
        autodiscover={"contoso.lab": probe} if probe else {},
        probe_user="probe@contoso.lab",
    )


def answered(body: str) -> Finding:
    """CONN-06's verdict on an HTTP 200 carrying *body*."""
    return judge(
        discovered(HttpProbe(AUTODISCOVER, "POST", 200, AUTODISCOVER, body_excerpt=body)),
        "CONN-06",
        "contoso.lab",
    )


def test_conn06_the_organisations_endpoints_pass() -> None:
    probe = HttpProbe(
        AUTODISCOVER, "POST", 200, AUTODISCOVER, body_excerpt=autodiscover_xml("outlook.contoso.lab", MAIL)
    )
    w = discovered(probe)
    assert case_ids(w, "CONN-06") == ["contoso.lab"]
    finding = judge(w, "CONN-06", "contoso.lab")
    assert finding.passed, finding.message()
    assert finding.observed == f"EXCH outlook.contoso.lab, EXPR {MAIL}"


def test_conn06_a_foreign_outlook_anywhere_host_fails() -> None:
    body = autodiscover_xml("outlook.contoso.lab", "mail.fabrikam.com")
    finding = answered(body)
    assert not finding.passed
    assert finding.object == f"{AUTODISCOVER} for probe@contoso.lab"
    assert finding.observed == "EXPR server mail.fabrikam.com is not an Outlook Anywhere host name"
    assert "Get-OutlookAnywhere | fl ExternalHostname" in finding.remediation


def test_conn06_a_response_without_the_rpc_endpoint_fails() -> None:
    """Only EXPR (and an unknown type): Outlook gets no EXCH server to open the mailbox with."""
    ns = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    body = (
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
        f'<Response xmlns="{ns}"><Account><Protocol><Type>EXPR</Type><Server>{MAIL}</Server></Protocol>'
        "<Protocol><Type>WEB</Type><Server></Server></Protocol></Account></Response></Autodiscover>"
    )
    finding = answered(body)
    assert not finding.passed
    assert "no EXCH section" in finding.observed


def test_conn06_an_error_names_the_same_object_as_a_verdict() -> None:
    finding = judge(discovered(HttpProbe(AUTODISCOVER, "POST", 401, AUTODISCOVER)), "CONN-06", "contoso.lab")
    assert finding.object == f"{AUTODISCOVER} for probe@contoso.lab"


def test_conn06_an_http_error_and_malformed_xml_fail() -> None:
    assert not judge(
        discovered(HttpProbe(AUTODISCOVER, "POST", 401, AUTODISCOVER)), "CONN-06", "contoso.lab"
    ).passed
    broken = HttpProbe(AUTODISCOVER, "POST", 200, AUTODISCOVER, body_excerpt="<Autodiscover>")
    finding = judge(discovered(broken), "CONN-06", "contoso.lab")
    assert not finding.passed and finding.observed.startswith("malformed XML")


def test_conn06_an_autodiscover_error_response_fails_with_its_code_and_message() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
        '<Response><Error Time="16:56:32.6164027" Id="1054084152"><ErrorCode>500</ErrorCode>'
        "<Message>The e-mail address cannot be found.</Message><DebugData /></Error></Response></Autodiscover>"
    )
    finding = answered(body)
    assert not finding.passed
    assert finding.observed == "Autodiscover answered error 500: The e-mail address cannot be found."
    # the address asked about (here the user name: no CAS_PROBE_EMAIL), looked up, and the variable to set
    assert finding.remediation.splitlines() == [
        'Get-Recipient -Identity "probe@contoso.lab" | Format-List RecipientType, PrimarySmtpAddress',
        "# Autodiscover found no mailbox for probe@contoso.lab: set CAS_PROBE_EMAIL to the test "
        "mailbox's primary SMTP address",
    ]


def test_conn06_without_a_test_mailbox_does_not_apply() -> None:
    with pytest.raises(NotApplicable, match="probe_credentials is not set"):
        judge(discovered(None, group_vars=""), "CONN-06", "contoso.lab")


def test_conn06_a_declared_mailbox_without_a_request_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="set CAS_PROBE_USER and CAS_PROBE_PASSWORD"):
        judge(discovered(None), "CONN-06", "contoso.lab")


# --- CONN-07 ----------------------------------------------------------------------------------

MX = DnsAnswer("contoso.lab", "MX", "NOERROR", ("10 mx.contoso.lab",), resolver="saved facts")


def mailed(probe: SmtpProbe | None, mx: DnsAnswer = MX) -> EvidenceView:
    return world(Cas("CAS01"), dns=(mx,), smtp={"contoso.lab": probe} if probe else {})


def test_conn07_a_greeting_offering_starttls_passes() -> None:
    w = mailed(SmtpProbe("mx.contoso.lab", 25, 220, "mx.contoso.lab ESMTP", ("STARTTLS",), True, True))
    assert case_ids(w, "CONN-07") == ["contoso.lab"]
    finding = judge(w, "CONN-07", "contoso.lab")
    assert finding.passed, finding.message()
    assert finding.object == "contoso.lab (MX mx.contoso.lab:25)"


def test_conn07_no_starttls_fails_with_the_receive_connector_fix() -> None:
    finding = judge(
        mailed(SmtpProbe("mx.contoso.lab", 25, 220, "mx.contoso.lab ESMTP")), "CONN-07", "contoso.lab"
    )
    assert not finding.passed and finding.observed.endswith("STARTTLS not offered")
    assert "Set-ReceiveConnector" in finding.remediation and "-Services SMTP" in finding.remediation


def test_conn07_no_mx_fails_with_the_record_to_publish() -> None:
    finding = judge(mailed(None, DnsAnswer("contoso.lab", "MX", "NXDOMAIN")), "CONN-07", "contoso.lab")
    assert not finding.passed and finding.remediation == "publish an MX record for contoso.lab"


def test_conn07_an_unprobed_mx_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match=r"SMTP host of contoso\.lab was not probed"):
        judge(mailed(None), "CONN-07", "contoso.lab")

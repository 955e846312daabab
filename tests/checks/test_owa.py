"""OWA-01..04 on hand-built facts: the OWA FailbackUrl is set, differs from the ExternalUrl, resolves
to the Client Access server (or a declared failback address) and serves a valid certificate; each
failure carries the Set-OwaVirtualDirectory and dnscmd lines for the real directory and address."""

from __future__ import annotations

from typing import Any

import pytest

from cas_conformance.checks import FactsUnavailable, NotApplicable
from cas_conformance.domain.facts import SectionError
from cas_conformance.evidence.view import EvidenceView
from cas_conformance.lab import Pki
from tests.checks.world_builder import Cas, a_record, case_ids, handshake, judge, leaf, world

CASE = "cas01-owa (Default Web Site)"
FAILBACK = "https://failback.contoso.lab/owa"
CAS_IP = a_record("cas01.contoso.lab", "10.0.0.11")


def owa(failback_url: str = FAILBACK, dns: tuple[Any, ...] = (CAS_IP,), **kw: Any) -> EvidenceView:
    cas = {k: kw.pop(k) for k in ("host_vars", "errors", "version") if k in kw}
    return world(Cas("CAS01", failback_url=failback_url, **cas), dns=dns, **kw)


# --- OWA-01 -----------------------------------------------------------------------------------


def test_owa01_a_failback_url_passes() -> None:
    assert case_ids(owa(), "OWA-01") == [CASE]
    finding = judge(owa(), "OWA-01", CASE)
    assert finding.passed, finding.message()


def test_owa01_no_failback_url_fails_and_proposes_one_with_its_record() -> None:
    finding = judge(owa(""), "OWA-01", CASE)
    assert not finding.passed and finding.observed == "(not set)"
    assert finding.object == "CAS01\\owa (Default Web Site)"
    assert finding.remediation == (
        'Set-OwaVirtualDirectory -Identity "CAS01\\owa (Default Web Site)" '
        '-FailbackUrl "https://failback-cas01.contoso.lab/owa"\n'
        "dnscmd . /RecordAdd contoso.lab failback-cas01 A 10.0.0.11   # on a DNS server of the zone"
    )


def test_owa01_unread_virtual_directories_are_an_error() -> None:
    w = owa(errors=(SectionError("vdir", "Get-OwaVirtualDirectory: denied"),))
    assert case_ids(w, "OWA-01") == ["cas01"]
    with pytest.raises(FactsUnavailable, match="could not read vdir"):
        judge(w, "OWA-01", "cas01")


def test_owa01_does_not_apply_to_exchange_2013() -> None:
    with pytest.raises(NotApplicable, match="migration in progress"):
        judge(owa("", version="Version 15.0 (Build 1497.2)"), "OWA-01", CASE)


# --- OWA-02 -----------------------------------------------------------------------------------


def test_owa02_a_distinct_failback_host_passes() -> None:
    assert judge(owa(), "OWA-02", CASE).passed


def test_owa02_the_external_host_as_failback_fails() -> None:
    finding = judge(owa("https://mail.contoso.lab/owa"), "OWA-02", CASE)
    assert not finding.passed
    assert finding.observed == "FailbackUrl host mail.contoso.lab, ExternalUrl host mail.contoso.lab"
    assert "dnscmd . /RecordAdd contoso.lab mail A 10.0.0.11" in finding.remediation


def test_owa02_without_failback_url_does_not_apply() -> None:
    with pytest.raises(NotApplicable, match="OWA-01 reports it"):
        judge(owa(""), "OWA-02", CASE)


# --- OWA-03 -----------------------------------------------------------------------------------


def test_owa03_failback_resolving_to_the_cas_passes() -> None:
    finding = judge(owa(dns=(CAS_IP, a_record("failback.contoso.lab", "10.0.0.11"))), "OWA-03", CASE)
    assert finding.passed, finding.message()


def test_owa03_a_declared_failback_address_passes() -> None:
    w = owa(
        dns=(CAS_IP, a_record("failback.contoso.lab", "192.0.2.10")),
        host_vars="failback_addresses=192.0.2.10",
    )
    finding = judge(w, "OWA-03", CASE)
    assert finding.passed, finding.message()
    assert "192.0.2.10 (failback_addresses declared for cas01.contoso.lab)" in finding.expected


def test_owa03_failback_resolving_elsewhere_fails_with_the_record_fix() -> None:
    finding = judge(owa(dns=(CAS_IP, a_record("failback.contoso.lab", "192.0.2.10"))), "OWA-03", CASE)
    assert not finding.passed
    assert finding.observed == "failback.contoso.lab: NOERROR 192.0.2.10"
    assert finding.remediation.endswith(
        "dnscmd . /RecordAdd contoso.lab failback A 10.0.0.11   # on a DNS server of the zone"
    )


def test_owa03_an_unresolvable_cas_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match=r"cas01.contoso.lab .* does not resolve"):
        judge(
            owa(dns=(a_record("failback.contoso.lab", "10.0.0.11"), a_record("cas01.contoso.lab"))),
            "OWA-03",
            CASE,
        )


def test_owa03_without_failback_url_does_not_apply() -> None:
    with pytest.raises(NotApplicable, match="no FailbackUrl"):
        judge(owa(""), "OWA-03", CASE)


# --- OWA-04 -----------------------------------------------------------------------------------


def test_owa04_a_valid_certificate_for_the_failback_host_passes(pki: Pki) -> None:
    tls = {"failback.contoso.lab": handshake("failback.contoso.lab", leaf(pki, "failback.contoso.lab"))}
    finding = judge(owa(tls=tls, trust_roots=[pki.root]), "OWA-04", CASE)
    assert finding.passed, finding.message()


def test_owa04_a_certificate_for_another_name_fails(pki: Pki) -> None:
    tls = {"failback.contoso.lab": handshake("failback.contoso.lab", leaf(pki, "mail.contoso.lab"))}
    finding = judge(owa(tls=tls, trust_roots=[pki.root]), "OWA-04", CASE)
    assert not finding.passed and "failback.contoso.lab" in finding.observed
    assert finding.object == "CAS01\\owa (Default Web Site)"
    assert '-FailbackUrl "https://failback.contoso.lab/owa"' in finding.remediation


def test_owa04_an_untrusted_chain_and_a_failed_handshake_fail(pki: Pki) -> None:
    tls = {"failback.contoso.lab": handshake("failback.contoso.lab", leaf(pki, "failback.contoso.lab"))}
    assert not judge(owa(tls=tls), "OWA-04", CASE).passed  # no trust roots
    refused = {"failback.contoso.lab": handshake("failback.contoso.lab", error="connection refused")}
    finding = judge(owa(tls=refused, trust_roots=[pki.root]), "OWA-04", CASE)
    assert not finding.passed and finding.observed == "connection refused"


def test_owa04_no_handshake_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match=r"no TLS handshake was attempted for failback\.contoso\.lab"):
        judge(owa(), "OWA-04", CASE)

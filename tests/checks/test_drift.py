"""DRIFT-01..05 on hand-built facts: a passing, a failing (with a majority) and a no-majority case
per requirement, the remediation each failure carries, and who belongs to which peer group."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cas_conformance.checks import CHECKS, FactsUnavailable, Finding, NotApplicable
from cas_conformance.checks.base import cmd_quoted, ps_word
from cas_conformance.checks.peer_groups import DRIFT_PROPERTY, peer_groups
from cas_conformance.domain.facts import SectionError
from cas_conformance.evidence.view import EvidenceView
from tests.checks.drift_world import Cas, certificate, three, with_servers, world

DRIFT = ("DRIFT-01", "DRIFT-02", "DRIFT-03", "DRIFT-04", "DRIFT-05")


def judge(w: EvidenceView, requirement: str, case_id: str) -> Finding:
    spec = CHECKS[requirement]
    cases = {c.id: c for c in spec.cases(w)}
    assert case_id in cases, sorted(cases)
    return spec.judge(w, cases[case_id])


def row(finding: Finding) -> dict[str, object]:
    return dict(json.loads(dict(finding.details)[DRIFT_PROPERTY]))


def test_identical_members_pass_every_property_with_readable_ids() -> None:
    w = three()
    ids = {rid: [c.id for c in CHECKS[rid].cases(w)] for rid in DRIFT}
    assert ids["DRIFT-01"][:2] == ["HQ-owa-internal-host", "HQ-owa-external-host"]
    assert "HQ-oa-client-auth" in ids["DRIFT-01"] and len(ids["DRIFT-01"]) == 12
    assert ids["DRIFT-02"] == ["HQ-rpc-encryption"]
    assert ids["DRIFT-03"] == ["HQ-certificate-names"]
    assert ids["DRIFT-04"] == ["HQ-winhttp-proxy", "HQ-winhttp-bypass"]
    assert ids["DRIFT-05"] == ["HQ-exchange-build"]
    for rid, case_ids in ids.items():
        for case_id in case_ids:
            finding = judge(w, rid, case_id)
            assert finding.passed, finding.message()
            assert finding.remediation == ""


# --- DRIFT-01 ---------------------------------------------------------------------------------


def test_drift01_odd_external_url_names_the_member_and_sets_the_majority_host() -> None:
    finding = judge(three(external_host="webmail.contoso.lab"), "DRIFT-01", "HQ-owa-external-host")
    assert not finding.passed
    assert "CAS03 has webmail.contoso.lab" in finding.observed
    assert "CAS01, CAS02 have mail.contoso.lab" in finding.observed
    assert "mail.contoso.lab, as most members have" in finding.expected
    assert finding.remediation == (
        'Set-OwaVirtualDirectory -Identity "CAS03\\owa (Default Web Site)" -ExternalUrl "https://mail.contoso.lab/owa"'
    )
    assert row(finding)["odd"] == ["CAS03"] and row(finding)["majority"] == "mail.contoso.lab"


@pytest.mark.parametrize(
    ("case_id", "command"),
    [
        ("HQ-ecp-external-host", 'Set-EcpVirtualDirectory -Identity "CAS03\\ecp (Default Web Site)"'),
        ("HQ-ews-external-host", 'Set-WebServicesVirtualDirectory -Identity "CAS03\\EWS (Default Web Site)"'),
        ("HQ-oab-external-host", 'Set-OabVirtualDirectory -Identity "CAS03\\OAB (Default Web Site)"'),
        (
            "HQ-activesync-external-host",
            'Set-ActiveSyncVirtualDirectory -Identity "CAS03\\Microsoft-Server-ActiveSync (Default Web Site)"',
        ),
    ],
)
def test_drift01_each_virtual_directory_has_its_own_cmdlet(case_id: str, command: str) -> None:
    finding = judge(three(external_host="webmail.contoso.lab"), "DRIFT-01", case_id)
    assert not finding.passed and finding.remediation.startswith(command + " -ExternalUrl "), (
        finding.remediation
    )


def test_drift01_own_names_agree_and_an_odd_internal_url_goes_back_to_its_own_name() -> None:
    assert judge(three(), "DRIFT-01", "HQ-owa-internal-host").observed.endswith("each member's own name")
    finding = judge(three(internal_host="mail.contoso.lab"), "DRIFT-01", "HQ-owa-internal-host")
    assert not finding.passed
    assert finding.remediation == (
        'Set-OwaVirtualDirectory -Identity "CAS03\\owa (Default Web Site)" -InternalUrl "https://cas03.contoso.lab/owa"'
    )


def test_drift01_outlook_anywhere_authentication_and_a_member_without_it() -> None:
    auth = judge(three(oa_auth="Ntlm"), "DRIFT-01", "HQ-oa-client-auth")
    assert not auth.passed
    assert auth.remediation == (
        'Set-OutlookAnywhere -Identity "CAS03\\Rpc (Default Web Site)" -ClientAuthenticationMethod Basic'
    )
    host = judge(three(oa_host="owa.contoso.lab"), "DRIFT-01", "HQ-oa-external-host")
    assert host.remediation == (
        'Set-OutlookAnywhere -Identity "CAS03\\Rpc (Default Web Site)" -ExternalHostname mail.contoso.lab'
    )
    missing = judge(three(oa_host=None), "DRIFT-01", "HQ-oa-external-host")
    assert missing.remediation == (
        "Enable-OutlookAnywhere -Server CAS03 -ExternalHostname mail.contoso.lab -ClientAuthenticationMethod Basic "
        "-SSLOffloading $false"
    )


def test_drift01_without_a_majority_lists_every_value_and_remediates_nothing() -> None:
    w = world(Cas("CAS01"), Cas("CAS02", oa_auth="Ntlm"))
    finding = judge(w, "DRIFT-01", "HQ-oa-client-auth")
    assert not finding.passed
    assert finding.observed == "no value has a majority: Basic on CAS01; Ntlm on CAS02"
    assert all(line.startswith("#") for line in finding.remediation.splitlines())
    assert "Basic: CAS01" in finding.remediation and "Ntlm: CAS02" in finding.remediation
    assert row(finding)["odd"] == ["CAS01", "CAS02"] and row(finding)["majority"] is None


# --- DRIFT-02 ---------------------------------------------------------------------------------


def test_drift02_rpc_encryption() -> None:
    assert judge(three(), "DRIFT-02", "HQ-rpc-encryption").passed
    finding = judge(three(encryption_required=True), "DRIFT-02", "HQ-rpc-encryption")
    assert not finding.passed and "CAS03 has EncryptionRequired True" in finding.observed
    assert finding.remediation == "Set-RpcClientAccess -Server CAS03 -EncryptionRequired $false"
    no_majority = judge(
        world(Cas("CAS01"), Cas("CAS02", encryption_required=True)), "DRIFT-02", "HQ-rpc-encryption"
    )
    assert not no_majority.passed and no_majority.remediation.startswith("# no value")


# --- DRIFT-03 ---------------------------------------------------------------------------------


def test_drift03_staggered_renewals_pass_and_say_so() -> None:
    finding = judge(three(cert_thumbprint="B" * 40), "DRIFT-03", "HQ-certificate-names")
    assert finding.passed
    assert "different certificates" in finding.observed and "staggered renewals" in finding.observed
    assert any("CAS03 " + "B" * 40 in note for note in finding.notes)


def test_drift03_other_names_fail_and_a_ready_certificate_is_enabled() -> None:
    odd = ("mail.contoso.lab", "legacy.contoso.lab")
    finding = judge(three(cert_names=odd, cert_thumbprint="C" * 40), "DRIFT-03", "HQ-certificate-names")
    assert not finding.passed
    assert any(
        "legacy.contoso.lab (CAS03)" in n and "autodiscover.contoso.lab (CAS01, CAS02)" in n
        for n in finding.notes
    )
    assert finding.remediation.startswith("# CAS01 has it")
    assert "New-ExchangeCertificate -Server CAS03 -GenerateRequest" in finding.remediation
    assert "Enable-ExchangeCertificate -Server CAS03 -Thumbprint <new> -Services IIS" in finding.remediation
    spare = certificate(("autodiscover.contoso.lab", "MAIL.contoso.lab"), "D" * 40, ("SMTP",))
    ready = judge(three(cert_names=odd, spare_certs=(spare,)), "DRIFT-03", "HQ-certificate-names")
    assert (
        ready.remediation == f"Enable-ExchangeCertificate -Server CAS03 -Thumbprint {'D' * 40} -Services IIS"
    )


def test_drift03_without_a_majority() -> None:
    w = world(Cas("CAS01"), Cas("CAS02", cert_names=("mail.contoso.lab",)))
    finding = judge(w, "DRIFT-03", "HQ-certificate-names")
    assert not finding.passed and finding.observed.startswith("no value has a majority")
    assert all(line.startswith("#") for line in finding.remediation.splitlines())


# --- DRIFT-04 ---------------------------------------------------------------------------------


def test_drift04_bypass_lists_compare_as_sets_of_entries() -> None:
    same = three(bypass=("*.CONTOSO.lab", "<local>", "<local>"))
    assert judge(same, "DRIFT-04", "HQ-winhttp-bypass").passed
    finding = judge(three(bypass=("<local>",)), "DRIFT-04", "HQ-winhttp-bypass")
    assert not finding.passed
    assert finding.remediation == (
        'netsh winhttp set proxy proxy-server="proxy.contoso.lab:8080" bypass-list="<local>;*.contoso.lab"'
        "   # on CAS03, elevated (as on CAS01)"
    )


def test_drift04_proxy_and_direct_access() -> None:
    finding = judge(three(proxy="other.contoso.lab:3128"), "DRIFT-04", "HQ-winhttp-proxy")
    assert not finding.passed and "CAS03 has other.contoso.lab:3128" in finding.observed
    assert finding.remediation.startswith('netsh winhttp set proxy proxy-server="proxy.contoso.lab:8080"')
    direct = world(Cas("CAS01", proxy=None), Cas("CAS02", proxy=None), Cas("CAS03"))
    assert judge(direct, "DRIFT-04", "HQ-winhttp-proxy").remediation == (
        "netsh winhttp reset proxy   # on CAS03, elevated (as on CAS01)"
    )
    no_majority = world(Cas("CAS01"), Cas("CAS02", proxy=None))
    assert judge(no_majority, "DRIFT-04", "HQ-winhttp-proxy").remediation.startswith("# no value")


# --- DRIFT-05 ---------------------------------------------------------------------------------


def test_drift05_build() -> None:
    assert judge(three(), "DRIFT-05", "HQ-exchange-build").passed
    older = judge(three(version="Version 14.2 (Build 247.5)"), "DRIFT-05", "HQ-exchange-build")
    assert not older.passed and "CAS03 has Version 14.2 (Build 247.5) (Exchange 2010 SP2)" in older.observed
    assert older.remediation.startswith("# install Version 14.3 (Build 123.4) on CAS03")
    newer = judge(three(version="Version 14.3 (Build 513.0)"), "DRIFT-05", "HQ-exchange-build")
    assert newer.remediation.startswith("# CAS03 runs Version 14.3 (Build 513.0), newer than")
    w = world(Cas("CAS01"), Cas("CAS02", version="Version 14.2 (Build 247.5)"))
    assert judge(w, "DRIFT-05", "HQ-exchange-build").remediation.startswith("# no value")


# --- peer groups --------------------------------------------------------------------------------


def test_a_peer_group_of_one_server_skips_with_the_reason() -> None:
    w = world(Cas("CAS01"), Cas("CAS02"), Cas("EX01", site="DR"), arrays={"HQ": "outlook.contoso.lab"})
    for rid in DRIFT:
        case = next(c for c in CHECKS[rid].cases(w) if c.id.startswith("DR-"))
        with pytest.raises(NotApplicable) as skipped:
            CHECKS[rid].judge(w, case)
        assert (
            skipped.value.reason
            == "peer group DR (AD site DR) has one member (EX01): there is nothing to compare it with"
        )
        assert dict(skipped.value.details)[DRIFT_PROPERTY]


def test_groups_are_arrays_or_sites_and_peer_group_overrides_both() -> None:
    w = world(
        Cas("CAS01"),
        Cas("CAS02"),
        Cas("CAS04", site="DR", peer_group="HQ"),
        Cas("CAS05", site="DR"),
        Cas("CAS06", site="DR"),
        Cas("MBX01", client_access=False),
        Cas("EX2013", version="Version 15.1 (Build 2375.7)"),
    )
    groups = {g.name: g for g in peer_groups(w)[0]}
    assert sorted(groups) == ["DR", "HQ"]
    assert [m.name for m in groups["HQ"].members] == ["CAS01", "CAS02", "CAS04"]
    assert groups["HQ"].basis == "CAS array outlook.contoso.lab + peer_group = HQ"
    assert groups["DR"].basis == "AD site DR"
    assert [m.name for m in groups["DR"].members] == ["CAS05", "CAS06"]


def test_array_members_missing_from_the_inventory_are_noted() -> None:
    full = world(Cas("CAS01"), Cas("CAS02"), Cas("CAS03"))
    full = with_servers(full, {h: r for h, r in full.servers.items() if h != "cas03.contoso.lab"})
    finding = judge(full, "DRIFT-02", "HQ-rpc-encryption")
    assert finding.passed and any(n.startswith("CAS03: member(s) of the array") for n in finding.notes)


def test_an_unreachable_member_makes_its_group_an_error_placeholder() -> None:
    w = three(collected=False)
    cases = CHECKS["DRIFT-02"].cases(w)
    assert [c.id for c in cases] == ["cas03"]
    assert cases[0].error and "connection refused" in cases[0].error and "peer group HQ" in cases[0].error
    with pytest.raises(FactsUnavailable):
        CHECKS["DRIFT-02"].judge(w, cases[0])


def test_a_section_that_failed_on_a_member_is_an_error_never_a_pass() -> None:
    w = three(errors=(SectionError("winhttp", "Access is denied"),))
    with pytest.raises(FactsUnavailable, match="Access is denied"):
        judge(w, "DRIFT-04", "HQ-winhttp-proxy")


def test_server_values_are_quoted_in_remediations() -> None:
    hostile = replace(Cas("CAS03"), external_host="webmail.contoso.lab")
    w = world(
        Cas("CAS01", proxy='p"x%PATH%:8080'),
        Cas("CAS02", proxy='p"x%PATH%:8080'),
        replace(hostile, proxy="q:1"),
    )
    proxy = judge(w, "DRIFT-04", "HQ-winhttp-proxy")
    assert 'proxy-server="p_x_PATH_:8080"' in proxy.remediation
    odd = replace(Cas("CAS03"), name="CAS03", oa_auth="Ntlm")
    w = world(Cas("CAS01", oa_auth="$(Remove-Item C:\\)"), Cas("CAS02", oa_auth="$(Remove-Item C:\\)"), odd)
    auth = judge(w, "DRIFT-01", "HQ-oa-client-auth")
    assert auth.remediation.endswith("-ClientAuthenticationMethod '$(Remove-Item C:\\)'")


def test_a_server_whose_own_record_is_missing_is_an_error_placeholder() -> None:
    w = three()
    rec = w.servers["cas03.contoso.lab"]
    assert rec.facts is not None
    w = with_servers(w, {**w.servers, rec.host: replace(rec, facts=replace(rec.facts, local_server="GHOST"))})
    cases = CHECKS["DRIFT-05"].cases(w)
    assert [c.id for c in cases] == ["HQ-exchange-build", "cas03"]
    assert cases[1].error and "GHOST, which Get-ExchangeServer did not list" in cases[1].error
    assert judge(w, "DRIFT-05", "HQ-exchange-build").passed  # CAS01 and CAS02 still form the group


def test_peer_group_is_a_host_or_group_variable_and_bad_values_name_their_line() -> None:
    from cas_conformance.errors import InventoryError
    from cas_conformance.inventory import parse_inventory
    from cas_conformance.settings import host_settings

    text = (
        "[hq]\ncas01.contoso.lab\n[dr]\ncas05.contoso.lab peer_group=Front\n[hq:vars]\npeer_group = Front\n"
    )
    inventory = parse_inventory(text, "groups.ini")
    for host in ("cas01.contoso.lab", "cas05.contoso.lab"):
        assert host_settings(inventory, inventory.hosts[host], password=None).peer_group == "Front"
    bad = parse_inventory("cas01.contoso.lab\n[all:vars]\npeer_group = a|b\n", "bad.ini")
    with pytest.raises(InventoryError, match=r"bad\.ini:3.*peer_group"):
        host_settings(bad, bad.hosts["cas01.contoso.lab"], password=None)


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(lambda v: v.strip() and v.lower() != "ntlm"))
def test_any_server_value_enters_a_remediation_quoted(value: str) -> None:
    w = world(
        Cas("CAS01", oa_auth=value, proxy=value),
        Cas("CAS02", oa_auth=value, proxy=value),
        Cas("CAS03", oa_auth="Ntlm", proxy=None),
    )
    auth = judge(w, "DRIFT-01", "HQ-oa-client-auth")
    assert auth.remediation == (
        f'Set-OutlookAnywhere -Identity "CAS03\\Rpc (Default Web Site)" -ClientAuthenticationMethod {ps_word(value)}'
    )
    proxy = judge(w, "DRIFT-04", "HQ-winhttp-proxy").remediation
    assert "\n" not in proxy and "\r" not in proxy
    quoted = proxy.split('proxy-server="', 1)[1].split('"', 1)[0]
    assert quoted == cmd_quoted(value)

"""OUT-01..03 and OUT2003-01/02 on hand-built facts: the databases' RpcClientAccessServer (a Client
Access server or array, resolving, in the database's site), RPC encryption and online-mode
notifications for Outlook 2003, with the fixes naming the real database, server and array."""

from __future__ import annotations

from typing import Any

import pytest

from cas_conformance.checks import FactsUnavailable, NotApplicable
from cas_conformance.domain.facts import MailboxDatabase, RegistryValue, SectionError
from cas_conformance.evidence.view import EvidenceView
from tests.checks.world_builder import Cas, a_record, case_ids, judge, world

ARRAY = "outlook.contoso.lab"
POLLING_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem"


def org(
    rca: str = ARRAY,
    mbx_site: str = "HQ",
    mbx_version: str = "Version 14.3 (Build 123.4)",
    errors: tuple[SectionError, ...] = (),
    db_server: str = "MBX01",
    **kw: Any,
) -> EvidenceView:
    """CAS01 (HQ, array outlook.contoso.lab) and MBX01 hosting DB01, whose RpcClientAccessServer is *rca*."""
    dbs = (MailboxDatabase("DB01", db_server, rca),)
    return world(
        Cas("CAS01", errors=errors, extra={"databases": dbs}),
        Cas("MBX01", site=mbx_site, version=mbx_version, client_access=False),
        **kw,
    )


# --- OUT-01 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rca", [ARRAY, "cas01.contoso.lab", "CAS01"])
def test_out01_an_array_or_a_client_access_server_passes(rca: str) -> None:
    assert case_ids(org(rca), "OUT-01") == ["DB01"]
    finding = judge(org(rca), "OUT-01", "DB01")
    assert finding.passed, finding.message()


def test_out01_a_mailbox_server_fails_and_the_fix_names_the_sites_array() -> None:
    finding = judge(org("mbx01.contoso.lab"), "OUT-01", "DB01")
    assert not finding.passed
    assert finding.object == "DB01" and finding.server == "MBX01"
    assert "MBX01 has no Client Access role" in finding.why
    assert finding.remediation == (
        'Get-MailboxDatabase "DB01" | Set-MailboxDatabase -RpcClientAccessServer outlook.contoso.lab'
    )


@pytest.mark.parametrize(
    ("rca", "why"), [("", "names no RPC endpoint"), ("old.contoso.lab", "names neither")]
)
def test_out01_an_empty_or_unknown_endpoint_fails(rca: str, why: str) -> None:
    finding = judge(org(rca), "OUT-01", "DB01")
    assert not finding.passed and why in finding.why
    assert finding.remediation.endswith("-RpcClientAccessServer outlook.contoso.lab")


def test_out01_a_database_on_exchange_2013_does_not_apply() -> None:
    w = org("mbx01.contoso.lab", mbx_version="Version 15.0 (Build 1497.2)")
    with pytest.raises(NotApplicable, match="does not use RpcClientAccessServer"):
        judge(w, "OUT-01", "DB01")


def test_out01_unread_databases_are_an_error_not_zero_cases() -> None:
    w = org(errors=(SectionError("database", "Get-MailboxDatabase: timeout"),))
    assert case_ids(w, "OUT-01") == ["database"]
    with pytest.raises(FactsUnavailable, match="Get-MailboxDatabase: timeout"):
        judge(w, "OUT-01", "database")


# --- OUT-02 -----------------------------------------------------------------------------------


def test_out02_an_endpoint_with_an_a_record_passes() -> None:
    w = org(dns=(a_record(ARRAY, "10.0.0.5"),))
    assert case_ids(w, "OUT-02") == [ARRAY]
    finding = judge(w, "OUT-02", ARRAY)
    assert finding.passed, finding.message()
    assert finding.observed == "NOERROR: 10.0.0.5" and "DB01" in finding.why


def test_out02_an_endpoint_without_a_record_fails_with_the_dns_fix() -> None:
    finding = judge(org(dns=(a_record(ARRAY),)), "OUT-02", ARRAY)
    assert not finding.passed
    assert finding.object == ARRAY and finding.observed == "NXDOMAIN"
    assert finding.remediation.startswith(
        "dnscmd . /RecordAdd contoso.lab outlook A <load-balancer-or-cas-ip>"
    )
    assert "-ZoneName contoso.lab -Name outlook" in finding.remediation


def test_out02_an_ungathered_name_is_an_error_naming_it_never_a_pass() -> None:
    with pytest.raises(FactsUnavailable, match=f"DNS A of {ARRAY} was read but no check declared it"):
        judge(org(), "OUT-02", ARRAY)  # the evidence holds no answer for it


def test_out02_unread_databases_are_an_error() -> None:
    w = org(errors=(SectionError("database", "denied"),))
    with pytest.raises(FactsUnavailable, match="denied"):
        judge(w, "OUT-02", "database")


# --- OUT-03 -----------------------------------------------------------------------------------


def test_out03_an_array_in_the_databases_site_passes() -> None:
    finding = judge(org(), "OUT-03", "DB01")
    assert finding.passed, finding.message()
    assert finding.observed == "array outlook.contoso.lab in site HQ"


def test_out03_an_array_in_another_site_fails_and_points_at_the_local_array() -> None:
    w = org(mbx_site="Branch", arrays={"HQ": ARRAY, "Branch": "branch.contoso.lab"})
    finding = judge(w, "OUT-03", "DB01")
    assert not finding.passed
    assert finding.object == "DB01" and "in site Branch (where MBX01 hosts DB01)" in finding.expected
    assert finding.remediation == (
        'Get-MailboxDatabase "DB01" | Set-MailboxDatabase -RpcClientAccessServer branch.contoso.lab'
    )


def test_out03_a_non_client_access_endpoint_is_left_to_out01() -> None:
    with pytest.raises(NotApplicable, match="OUT-01 reports it"):
        judge(org("mbx01.contoso.lab"), "OUT-03", "DB01")


def test_out03_a_database_server_missing_from_the_organisation_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="not in Get-ExchangeServer's list"):
        judge(org(db_server="MBX99"), "OUT-03", "DB01")


# --- OUT2003-01 -------------------------------------------------------------------------------


def outlook2003(clients: str = "online", encryption: str = "none", **cas: Any) -> EvidenceView:
    return world(
        Cas("CAS01", host_vars=f"outlook2003_clients={clients} outlook2003_encryption={encryption}", **cas)
    )


def test_out2003_01_encryption_not_required_passes() -> None:
    finding = judge(outlook2003(), "OUT2003-01", "cas01")
    assert finding.passed, finding.message()


def test_out2003_01_required_encryption_fails_with_the_set_command() -> None:
    finding = judge(outlook2003(encryption_required=True), "OUT2003-01", "cas01")
    assert not finding.passed
    assert finding.object == "RpcClientAccess on CAS01" and finding.observed == "EncryptionRequired True"
    assert finding.remediation.startswith("Set-RpcClientAccess -Server CAS01 -EncryptionRequired $false\n")


@pytest.mark.parametrize(
    ("clients", "encryption", "reason"),
    [("none", "none", "no Outlook 2003 clients declared"), ("cached", "enforced", "configured to encrypt")],
)
def test_out2003_01_does_not_apply_without_unencrypted_outlook_2003(
    clients: str, encryption: str, reason: str
) -> None:
    with pytest.raises(NotApplicable, match=reason):
        judge(outlook2003(clients, encryption, encryption_required=True), "OUT2003-01", "cas01")


def test_out2003_01_unread_settings_are_an_error() -> None:
    w = outlook2003(errors=(SectionError("rpcclientaccess", "cmdlet failed"),))
    with pytest.raises(FactsUnavailable, match="Get-RpcClientAccess failed: cmdlet failed"):
        judge(w, "OUT2003-01", "cas01")


def test_out2003_01_a_client_access_server_without_settings_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="no RPC Client Access settings"):
        judge(outlook2003(extra={"rpc_client_access": None}), "OUT2003-01", "cas01")


# --- OUT2003-02 -------------------------------------------------------------------------------


def registry(push: str | None, polling: str | None) -> tuple[RegistryValue, ...]:
    return (
        RegistryValue(POLLING_KEY, "EnablePushNotifications", push is not None, push or ""),
        RegistryValue(POLLING_KEY, "Maximum Polling Frequency", polling is not None, polling or ""),
    )


@pytest.mark.parametrize(("push", "polling"), [("1", None), (None, "10000")])
def test_out2003_02_push_on_or_lowered_polling_passes(push: str | None, polling: str | None) -> None:
    finding = judge(outlook2003(extra={"registry": registry(push, polling)}), "OUT2003-02", "cas01")
    assert finding.passed, finding.message()


@pytest.mark.parametrize("polling", [None, "60000", "ten"])
def test_out2003_02_defaults_fail_with_the_registry_fixes(polling: str | None) -> None:
    finding = judge(outlook2003(extra={"registry": registry(None, polling)}), "OUT2003-02", "cas01")
    assert not finding.passed
    assert finding.object == "CAS01"
    assert f'New-ItemProperty -Path "{POLLING_KEY}"' in finding.remediation
    assert "Restart-Service MSExchangeRPC   # on CAS01" in finding.remediation
    assert "-Name EnablePushNotifications -PropertyType DWord -Value 1" in finding.remediation


def test_out2003_02_does_not_apply_to_cached_mode_clients() -> None:
    w = outlook2003("cached", extra={"registry": registry(None, None)})
    with pytest.raises(NotApplicable, match="outlook2003_clients = cached"):
        judge(w, "OUT2003-02", "cas01")


def test_out2003_02_unread_registry_is_an_error() -> None:
    w = outlook2003(errors=(SectionError("registry", "access denied"),))
    with pytest.raises(FactsUnavailable, match="reading the registry failed: access denied"):
        judge(w, "OUT2003-02", "cas01")


def test_out2003_02_unreported_values_are_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="did not report"):
        judge(outlook2003(extra={"registry": registry(None, None)[:1]}), "OUT2003-02", "cas01")

"""Every sample under fixtures/samples parsed, with the values each one is there to exercise."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from cas_conformance.collector.parse import parse_collector_output
from cas_conformance.collector.render import render_collector_output
from cas_conformance.winhttp import parse_netsh_show_proxy
from cas_conformance.errors import CollectorFormatError
from cas_conformance.facts import ServerFacts, VdirKind

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "samples"
GOOD = sorted(p.name for p in SAMPLES.glob("*.txt") if not p.name.startswith("invalid-"))
BAD = sorted(p.name for p in SAMPLES.glob("invalid-*.txt"))
RPC_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem"


def _parse(name: str) -> ServerFacts:
    return parse_collector_output(_text(name), name.split("-")[0].upper())


def _text(name: str) -> str:
    return (SAMPLES / name).read_bytes().decode("ascii")


def test_the_samples_are_there() -> None:
    assert len(GOOD) >= 7
    assert len(BAD) == 4


@pytest.mark.parametrize("name", GOOD)
def test_every_sample_is_ascii_and_renders_back_to_its_own_block(name: str) -> None:
    text = _text(name).replace("\r\n", "\n")
    facts = _parse(name)
    block = text[text.index("#CASCONF BEGIN") :]
    block = block[: block.index("\n", block.index("#CASCONF END")) + 1]
    assert render_collector_output(facts) == block
    assert facts.local_server == facts.meta.computer_name == name.split("-")[0].upper()


def test_multi_role_server_with_several_databases_and_internal_only_urls() -> None:
    facts = _parse("ex01-multirole.txt")
    local = facts.local
    assert local is not None
    assert local.server_role == ("Mailbox", "ClientAccess", "HubTransport")
    assert local.is_client_access and local.is_mailbox
    assert local.version is not None and local.version.service_pack == "SP3"
    assert local.site_name == "Default-First-Site-Name"
    assert [d.name for d in facts.databases if d.server == "EX01"] == [
        "DB01",
        "DB02",
        "Mailbox Database 0311695863",
    ]
    assert facts.databases[2].rpc_client_access_server == "EX01.contoso.com"
    assert facts.databases[3].master == "DAG01"
    assert facts.rpc_client_access is not None and facts.rpc_client_access.encryption_required is False
    owa = next(v for v in facts.vdirs if v.kind is VdirKind.OWA)
    assert owa.internal_url == "https://ex01.contoso.com/owa"
    assert owa.external_url == "" and owa.failback_url == "" and owa.external_auth == ()
    assert owa.name == "owa (Default Web Site)"
    assert [v.kind for v in facts.vdirs] == list(VdirKind)
    assert (
        facts.registry[0].present is False and facts.registry[0].value == "" and facts.registry[0].kind == ""
    )
    assert facts.winhttp is not None and facts.winhttp.proxy is None and facts.winhttp.bypass_list == ()
    assert facts.outlook_anywhere == () and facts.events == () and facts.errors == ()
    cert = facts.certificates[0]
    assert cert.is_self_signed and cert.services == ("IMAP", "POP", "IIS", "SMTP")
    assert cert.not_before == datetime(2013, 5, 21, 14, 2, 11, tzinfo=timezone.utc)
    assert cert.not_after.year == 2018


def test_cas_in_an_array_site_behind_a_banner_with_crlf_and_a_proxy() -> None:
    raw = _text("cas01-array-proxy-crlf.txt")
    assert "\r\n" in raw and not raw.startswith("#CASCONF")
    facts = _parse("cas01-array-proxy-crlf.txt")
    assert facts.local is not None and facts.local.site_name == "Redmond"
    (array,) = facts.arrays
    assert (array.fqdn, array.site_name, array.members) == (
        "outlook.contoso.com",
        "Redmond",
        ("CAS01", "CAS02"),
    )
    assert {d.rpc_client_access_server for d in facts.databases if d.server.startswith("MBX")} == {
        "outlook.contoso.com",
        "mbx01.contoso.com",
    }
    assert facts.rpc_client_access is not None and facts.rpc_client_access.encryption_required is True
    push, polling = facts.registry
    assert (push.name, push.present, push.value, push.kind) == ("EnablePushNotifications", True, "1", "DWord")
    assert (polling.key, polling.name, polling.value) == (RPC_KEY, "Maximum Polling Frequency", "15000")
    owa = next(v for v in facts.vdirs if v.kind is VdirKind.OWA)
    assert owa.external_url == "https://mail.contoso.com/owa"
    assert owa.failback_url == "https://failback.contoso.com/owa"
    assert all(v.failback_url == "" for v in facts.vdirs if v.kind is not VdirKind.OWA)
    (oa,) = facts.outlook_anywhere
    assert (oa.external_hostname, oa.client_authentication_method, oa.iis_authentication_methods) == (
        "mail.contoso.com",
        "Ntlm",
        ("Basic", "Ntlm"),
    )
    assert oa.ssl_offloading is False
    winhttp = facts.winhttp
    assert winhttp is not None
    assert winhttp.proxy == "proxy.contoso.com:8080"
    assert winhttp.bypass_list == ("*.contoso.com", "<local>", "10.*")
    assert parse_netsh_show_proxy(winhttp.netsh_text) == (winhttp.proxy, winhttp.bypass_list)
    san = facts.certificates[0]
    assert len(san.certificate_domains) == 15 and "webmail.contoso.co.uk" in san.certificate_domains
    assert san.subject == "CN=mail.contoso.com, OU=IT, O=Contoso Ltd, L=Redmond, S=WA, C=US"
    assert san.services == ("IIS", "SMTP") and san.assigned


def test_mailbox_only_server_without_rpc_client_access_but_with_event_106() -> None:
    facts = _parse("mbx02-mailbox-only.txt")
    local = facts.local
    assert local is not None and local.server_role == ("Mailbox",) and not local.is_client_access
    assert local.fqdn == "MBX02.contoso.com"
    assert facts.rpc_client_access is None
    (service,) = facts.services
    assert (service.name, service.present, service.state, service.start_mode) == (
        "MSExchangeRPC",
        True,
        "Running",
        "Auto",
    )
    (event,) = facts.events
    assert event.event_id == 106 and event.source == "MSExchange Common"
    assert event.time_generated == datetime(2024, 3, 3, 2, 0, 9, tzinfo=timezone.utc)
    assert "category name is MSExchange RpcClientAccess" in event.message
    assert "\r\n   at System.Diagnostics.PerformanceCounter.Initialize()\r\n" in event.message
    assert facts.vdirs == () and facts.outlook_anywhere == ()


def test_mailbox_server_hosting_public_folders_reports_rpc_client_access() -> None:
    facts = _parse("mbx01-mailbox-pf.txt")
    assert facts.local is not None and not facts.local.is_client_access
    assert [p.server for p in facts.public_folder_databases] == ["MBX01"]
    assert facts.rpc_client_access is not None and facts.rpc_client_access.server == "MBX01"
    assert [e.time_generated.day for e in facts.events] == [4, 1]
    assert "Active User Count" in facts.events[1].message


def test_several_certificates_with_their_status_and_services() -> None:
    facts = _parse("cas02-certificates.txt")
    by_status = {c.status: c for c in facts.certificates}
    assert set(by_status) == {"Valid", "RevocationCheckFailure", "PendingRequest", "DateInvalid"}
    self_signed = by_status["Valid"]
    assert self_signed.is_self_signed and self_signed.services == ("IMAP", "POP", "IIS", "SMTP")
    assert self_signed.certificate_domains == ("CAS02", "cas02.contoso.com")
    unassigned = by_status["RevocationCheckFailure"]
    assert (
        unassigned.services == ("None",)
        and not unassigned.assigned
        and len(unassigned.certificate_domains) == 15
    )
    assert by_status["DateInvalid"].public_key_size == 1024
    assert by_status["DateInvalid"].not_after == datetime(2021, 1, 14, 23, 59, 59, tzinfo=timezone.utc)
    assert facts.registry[0].value == "0"
    assert facts.outlook_anywhere[0].ssl_offloading is True


def test_de_de_server_values_are_invariant_and_non_ascii_survives() -> None:
    raw = _text("fra01-de-de.txt")
    assert "%C3%A4" in raw  # the sample itself is ASCII; the umlauts are escaped
    facts = _parse("fra01-de-de.txt")
    assert facts.meta.culture == "de-DE"
    assert facts.meta.collected_at == datetime(2024, 3, 4, 8, 5, 59, tzinfo=timezone.utc)
    assert [d.name for d in facts.databases] == [
        "Postfachdatenbank Geschäftsführung",
        "Postfächer Außendienst; Vertrieb=Süd",
    ]
    assert facts.local is not None and facts.local.server_role[-1] == "UnifiedMessaging"
    assert facts.local.site_name == "Frankfurt-Hauptsitz"
    (event,) = facts.events
    assert "Ungültiger Vorgang \u2013 \u201eReadOnly\u201c 100 %." in event.message
    owa = next(v for v in facts.vdirs if v.kind is VdirKind.OWA)
    assert owa.failback_url == "https://rückfall.contoso.de/owa"
    winhttp = facts.winhttp
    assert winhttp is not None and winhttp.registry_hex.startswith("28")
    assert winhttp.proxy is None and winhttp.bypass_list == ()
    assert winhttp.netsh_text.endswith("Direkter Zugriff (kein Proxyserver).")
    cert = facts.certificates[0]
    assert cert.issuer == "CN=Contoso Zertifizierungsstelle Übergang, O=Contoso GmbH, C=DE"
    assert cert.public_key_size == 4096 and cert.not_after == datetime(
        2026, 1, 1, 22, 59, 59, tzinfo=timezone.utc
    )


def test_error_records_mark_sections_unknown_and_the_rest_is_still_read() -> None:
    facts = _parse("cas03-section-errors.txt")
    assert [e.section for e in facts.errors] == ["vdir", "outlookanywhere", "certificate"]
    oa = facts.section_error("outlookanywhere")
    assert oa is not None and oa.message.startswith("Get-OutlookAnywhere: ")
    cert = facts.section_error("certificate")
    assert cert is not None and "0x800706BA)\r\n    + CategoryInfo" in cert.message
    vdir = facts.section_error("vdir")
    assert vdir is not None and "HResult = -2147024891" in vdir.message
    assert facts.certificates == () and facts.outlook_anywhere == ()
    assert {v.kind for v in facts.vdirs} == set(VdirKind) - {VdirKind.OWA}
    assert facts.services[0].state == "Stopped" and facts.services[0].start_mode == "Manual"
    assert _text("cas03-section-errors.txt").rstrip().endswith("inconsistent state.")  # ignored trailer


@pytest.mark.parametrize(
    ("name", "section", "line", "words"),
    [
        ("invalid-truncated.txt", "database", 67, "truncated"),
        ("invalid-record-count.txt", None, 134, "counts 7 records, the block holds 23"),
        ("invalid-version.txt", None, 1, "unknown format version 3"),
        ("invalid-garbled-line.txt", "event", 120, "malformed line 'ry name is MSExchange"),
    ],
)
def test_invalid_samples_fail_with_section_and_line(
    name: str, section: str | None, line: int | None, words: str
) -> None:
    with pytest.raises(CollectorFormatError) as caught:
        _parse(name)
    error = caught.value
    assert (error.server, error.section, error.line) == ("INVALID", section, line)
    assert words in error.message
    assert str(error).startswith("INVALID")
    if line is not None:
        assert f"line {line}" in str(error)

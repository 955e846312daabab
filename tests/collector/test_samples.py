"""Every sample under fixtures/samples parsed, with the values each one is there to exercise."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from cas_conformance.collector.parse import parse_collector_output
from cas_conformance.collector.render import render_collector_output
from cas_conformance.domain.facts import ServerFacts
from cas_conformance.domain.winhttp import parse_netsh_show_proxy
from cas_conformance.errors import CollectorFormatError

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


def test_a_server_that_never_set_a_proxy_and_has_no_rpc_registry_values() -> None:
    facts = _parse("ex01-multirole.txt")
    assert facts.meta.ps_version == "2.0" and facts.meta.format_version == 3
    assert (
        facts.registry[0].present is False and facts.registry[0].value == "" and facts.registry[0].kind == ""
    )
    assert facts.winhttp is not None and facts.winhttp.proxy is None and facts.winhttp.bypass_list == ()
    assert facts.events == () and facts.errors == ()
    # the Exchange parts come from Exchange remote PowerShell, never from this collector
    assert facts.servers == () and facts.vdirs == () and facts.certificates == ()


def test_cas_behind_a_banner_with_crlf_and_a_proxy() -> None:
    raw = _text("cas01-array-proxy-crlf.txt")
    assert "\r\n" in raw and not raw.startswith("#CASCONF")
    facts = _parse("cas01-array-proxy-crlf.txt")
    push, polling = facts.registry
    assert (push.name, push.present, push.value, push.kind) == ("EnablePushNotifications", True, "1", "DWord")
    assert (polling.key, polling.name, polling.value) == (RPC_KEY, "Maximum Polling Frequency", "15000")
    winhttp = facts.winhttp
    assert winhttp is not None
    assert winhttp.proxy == "proxy.contoso.com:8080"
    assert winhttp.bypass_list == ("*.contoso.com", "<local>", "10.*")
    assert parse_netsh_show_proxy(winhttp.netsh_text) == (winhttp.proxy, winhttp.bypass_list)
    (category,) = facts.counter_categories
    assert category.exists


def test_mailbox_only_server_with_event_106() -> None:
    facts = _parse("mbx02-mailbox-only.txt")
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


def test_events_newest_first() -> None:
    facts = _parse("mbx01-mailbox-pf.txt")
    assert [e.time_generated.day for e in facts.events] == [4, 1]
    assert "Active User Count" in facts.events[1].message


def test_push_notifications_switched_off_reads_as_zero() -> None:
    facts = _parse("cas02-push-disabled.txt")
    assert facts.registry[0].present and facts.registry[0].value == "0"


def test_de_de_server_values_are_invariant_and_non_ascii_survives() -> None:
    raw = _text("fra01-de-de.txt")
    assert "%C3%" in raw  # the sample itself is ASCII; the umlauts are escaped
    facts = _parse("fra01-de-de.txt")
    assert facts.meta.culture == "de-DE"
    assert facts.meta.collected_at == datetime(2024, 3, 4, 8, 5, 59, tzinfo=timezone.utc)
    (event,) = facts.events
    assert "Ungültiger Vorgang \u2013 \u201eReadOnly\u201c 100 %." in event.message
    winhttp = facts.winhttp
    assert winhttp is not None and winhttp.registry_hex.startswith("28")
    assert winhttp.proxy is None and winhttp.bypass_list == ()
    assert winhttp.netsh_text.endswith("Direkter Zugriff (kein Proxyserver).")


def test_error_records_mark_sections_unknown_and_the_rest_is_still_read() -> None:
    facts = _parse("cas03-section-errors.txt")
    assert [e.section for e in facts.errors] == ["event", "registry"]
    event = facts.section_error("event")
    assert event is not None and event.message.startswith(
        "Get-WinEvent Application: The RPC server is unavailable."
    )
    assert facts.events == () and [r.name for r in facts.registry] == ["EnablePushNotifications"]
    assert facts.services[0].state == "Stopped" and facts.services[0].start_mode == "Manual"
    assert _text("cas03-section-errors.txt").rstrip().endswith("inconsistent state.")  # ignored trailer


@pytest.mark.parametrize(
    ("name", "section", "line", "words"),
    [
        ("invalid-truncated.txt", "event", 29, "truncated"),
        ("invalid-record-count.txt", None, 33, "counts 7 records, the block holds 6"),
        ("invalid-version.txt", None, 1, "format version 2 is the snap-in collector"),
        ("invalid-garbled-line.txt", "event", 30, "malformed line 'ry name is MSExchange"),
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

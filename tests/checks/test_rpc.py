"""RPC-01/02 on hand-built facts: the RPC Client Access counters where MSExchangeRPC runs, and
Event ID 106 about them, with the reference's fix (install the Client Access role / reload the
counters); a service that neither runs nor starts does not apply; unread sections are errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cas_conformance.checks import FactsUnavailable, NotApplicable
from cas_conformance.domain.event106 import RPC_CLIENT_ACCESS_CATEGORY
from cas_conformance.domain.facts import EventRecord, PerformanceCounterCategory, SectionError, ServiceState
from cas_conformance.evidence.view import EvidenceView
from tests.checks.world_builder import NOW, Cas, case_ids, judge, world

RUNNING = ServiceState("MSExchangeRPC", True, "Running", "Auto")
MESSAGE = (
    "Performance counter updating error. Counter name is RPC Requests, category name is "
    f"{RPC_CLIENT_ACCESS_CATEGORY}. Optional code: 3."
)


def mailbox(
    service: ServiceState = RUNNING, counters: bool | None = True, errors: tuple[SectionError, ...] = ()
) -> EvidenceView:
    categories = (
        () if counters is None else (PerformanceCounterCategory(RPC_CLIENT_ACCESS_CATEGORY, counters),)
    )
    extra = {"services": (service,), "counter_categories": categories}
    return world(Cas("CAS01"), Cas("MBX01", client_access=False, errors=errors, extra=extra))


# --- RPC-01 -----------------------------------------------------------------------------------


def test_rpc01_is_asked_of_servers_without_the_client_access_role_only() -> None:
    assert case_ids(mailbox(), "RPC-01") == ["mbx01"]


def test_rpc01_counters_installed_pass() -> None:
    finding = judge(mailbox(), "RPC-01", "mbx01")
    assert finding.passed, finding.message()


def test_rpc01_missing_counters_fail_with_the_install_role_fix() -> None:
    finding = judge(mailbox(counters=False), "RPC-01", "mbx01")
    assert not finding.passed
    assert finding.object == "RPC Client Access counters on MBX01"
    assert "MBX01 has no Client Access role (roles: Mailbox)" in finding.why
    assert "# MSExchangeRPC runs on MBX01 by design" in finding.remediation
    assert "install the Client Access role on MBX01" in finding.remediation
    assert finding.remediation.endswith(".\\Setup.com /mode:install /roles:ClientAccess")
    assert "Stop-Service" not in finding.remediation and "Disabled" not in finding.remediation


def test_rpc01_a_stopped_manual_service_does_not_apply() -> None:
    w = mailbox(service=ServiceState("MSExchangeRPC", True, "Stopped", "Manual"), counters=False)
    with pytest.raises(NotApplicable, match="neither runs nor starts automatically on MBX01"):
        judge(w, "RPC-01", "mbx01")


def test_rpc01_an_absent_service_does_not_apply() -> None:
    with pytest.raises(NotApplicable, match="not installed"):
        judge(mailbox(service=ServiceState("MSExchangeRPC", False), counters=False), "RPC-01", "mbx01")


def test_rpc01_unread_counters_are_an_error() -> None:
    w = mailbox(errors=(SectionError("perfcounter", "access denied"),))
    with pytest.raises(FactsUnavailable, match="performance counter categories failed: access denied"):
        judge(w, "RPC-01", "mbx01")


def test_rpc01_an_unreported_category_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="did not report"):
        judge(mailbox(counters=None), "RPC-01", "mbx01")


def test_rpc01_an_unread_service_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="MSExchangeRPC service failed"):
        judge(mailbox(errors=(SectionError("service", "RPC server unavailable"),)), "RPC-01", "mbx01")


# --- RPC-02 -----------------------------------------------------------------------------------


def events(*records: EventRecord, errors: tuple[SectionError, ...] = ()) -> EvidenceView:
    return world(Cas("CAS01", errors=errors, extra={"events": records}))


def test_rpc02_a_quiet_log_passes() -> None:
    other = EventRecord(
        106, "MSExchange Common", NOW, MESSAGE.replace(RPC_CLIENT_ACCESS_CATEGORY, "MSExchange ADAccess")
    )
    finding = judge(events(other), "RPC-02", "cas01")
    assert finding.passed, finding.message()
    assert "in the last 7 days" in finding.observed


def test_rpc02_an_event_106_fails_with_the_reload_counters_fix() -> None:
    first = EventRecord(106, "MSExchange Common", NOW - timedelta(days=2), MESSAGE)
    last = EventRecord(0xC000006A, "MSExchange Common", NOW - timedelta(hours=1), MESSAGE)
    finding = judge(events(last, first), "RPC-02", "cas01")
    assert not finding.passed
    assert finding.object == "Application log of CAS01"
    assert finding.observed.startswith(
        f"2 event(s) {0xC000006A} from MSExchange Common, last at 2025-12-31T23:00"
    )
    assert "# CAS01 holds the Client Access role" in finding.remediation
    assert (
        "New-PerfCounters" in finding.remediation and "Restart-Service MSExchangeRPC" in finding.remediation
    )


def test_rpc02_does_not_apply_to_exchange_2013() -> None:
    w = world(Cas("CAS01", version="Version 15.0 (Build 1497.2)", extra={"events": ()}))
    with pytest.raises(NotApplicable, match="migration in progress"):
        judge(w, "RPC-02", "cas01")


def test_rpc02_an_unread_log_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="Application log failed: log full"):
        judge(events(errors=(SectionError("event", "log full"),)), "RPC-02", "cas01")

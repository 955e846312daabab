"""Section "Event ID 106" (the RPC Client Access counters on a server without the Client Access
role).

In Exchange 2010 ``MSExchangeRPC`` runs on Mailbox servers by design: it answers Outlook's
public-folder logons and refers mailbox logons to the Client Access server ("Understanding RPC
Client Access", ee332317). So a running service is never the failure; the reference's cause of
Event 106 is: the ``MSExchange RpcClientAccess`` counters are not installed where it runs, and its
fix is to install the Client Access role. Nothing here recommends stopping or disabling a service.
"""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import FactsUnavailable, Finding, NotApplicable, check, one_line
from cas_conformance.domain.catalogue import SECTION_RPC, Requirement, Severity
from cas_conformance.domain.event106 import RPC_CLIENT_ACCESS_CATEGORY, names_rpc_client_access_category
from cas_conformance.domain.facts import ExchangeServer, ServiceState
from cas_conformance.evidence.view import EvidenceView, ServerRecord


def _remediation(world: EvidenceView, server: ExchangeServer) -> str:
    name = one_line(server.name)
    if server.is_client_access:
        return (
            f"# {name} holds the Client Access role: reload its RPC Client Access performance counters,\n"
            "# then restart the RPC Client Access service so it opens them:\n"
            'New-PerfCounters -DefinitionFileName "$env:ExchangeInstallPath\\Setup\\Perf\\'
            'RpcClientAccessPerformanceCounters.xml"; Restart-Service MSExchangeRPC'
        )
    role = (
        "it answers Outlook's public-folder logons for the public-folder database there"
        if world.hosts_pf_database(server.name)
        else "it refers Outlook's mailbox logons to a Client Access server"
    )
    return (
        f"# MSExchangeRPC runs on {name} by design ({role}): leave it running.\n"
        f"# The reference's fix for the missing RPC Client Access counters: install the Client Access role on "
        f"{name}: on {name}, in an elevated prompt, from the folder holding the extracted Exchange 2010 SP3 files:\n"
        ".\\Setup.com /mode:install /roles:ClientAccess"
    )


def _rpc_service(rec: ServerRecord) -> ServiceState:
    facts = rec.require()
    error = facts.section_error("service")
    if error is not None:
        raise FactsUnavailable(f"{rec.host}: reading the MSExchangeRPC service failed: {error.message}")
    service = next((s for s in facts.services if s.name.lower() == "msexchangerpc"), None)
    if service is None:
        raise FactsUnavailable(f"{rec.host}: the collector did not report the MSExchangeRPC service")
    return service


@check(
    Requirement(
        "RPC-01",
        "RPC Client Access counters exist where MSExchangeRPC runs on a server without Client Access",
        Severity.WARNING,
        SECTION_RPC,
    ),
    subjects.non_cas_servers,
)
def rpc_counters_where_the_service_runs(world: EvidenceView, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    if not local.is_mailbox:
        raise NotApplicable(f"{local.name} holds neither the Mailbox nor the Client Access role")
    service = _rpc_service(rec)
    if not service.present or (service.state != "Running" and service.start_mode != "Auto"):
        state = (
            "not installed"
            if not service.present
            else f"State {service.state}, StartMode {service.start_mode}"
        )
        raise NotApplicable(
            f"MSExchangeRPC neither runs nor starts automatically on {local.name} ({state}): it logs no Event 106"
        )
    facts = rec.require()
    error = facts.section_error("perfcounter")
    if error is not None:
        raise FactsUnavailable(f"{key}: reading the performance counter categories failed: {error.message}")
    category = facts.counter_category(RPC_CLIENT_ACCESS_CATEGORY)
    if category is None:
        raise FactsUnavailable(
            f"{key}: the collector did not report the {RPC_CLIENT_ACCESS_CATEGORY} counters"
        )
    observed = (
        f"MSExchangeRPC State {service.state}, StartMode {service.start_mode}; counter category "
        f"{RPC_CLIENT_ACCESS_CATEGORY} {'installed' if category.exists else 'missing'}"
    )
    return Finding(
        key,
        f"RPC Client Access counters on {local.name}",
        category.exists,
        observed,
        f"the {RPC_CLIENT_ACCESS_CATEGORY} performance counter category exists where MSExchangeRPC runs "
        "(a running service on a Mailbox server is normal)",
        why=""
        if category.exists
        else (
            f"{local.name} has no Client Access role (roles: {', '.join(local.server_role)}) and no RPC Client "
            "Access counters: the service logs Event ID 106 each time it cannot update them"
        ),
        remediation=_remediation(world, local),
    )


@check(
    Requirement(
        "RPC-02",
        "No Event ID 106 whose category name is MSExchange RpcClientAccess",
        Severity.WARNING,
        SECTION_RPC,
    ),
    subjects.servers,
)
def no_event_106(world: EvidenceView, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    facts = rec.require()
    error = facts.section_error("event")
    if error is not None:
        raise FactsUnavailable(f"{key}: reading the Application log failed: {error.message}")
    # The collector filters already; the check applies the same rule to what it is handed.
    events = sorted(
        (
            e
            for e in facts.events
            if e.event_id & 0xFFFF == 106
            and e.source == "MSExchange Common"
            and names_rpc_client_access_category(e.message)
        ),
        key=lambda e: e.time_generated,
    )
    lookback = rec.settings.eventlog_lookback_days
    if events:
        last = events[-1]
        excerpt = " ".join(last.message.split())[:300]
        observed = (
            f"{len(events)} event(s) {last.event_id} from {last.source}, last at "
            f"{last.time_generated.isoformat()}: {excerpt}"
        )
    else:
        observed = f"no Event ID 106 about {RPC_CLIENT_ACCESS_CATEGORY} in the last {lookback} days"
    return Finding(
        key,
        f"Application log of {local.name}",
        not events,
        observed,
        f"no Event ID 106 (source MSExchange Common) whose category name is {RPC_CLIENT_ACCESS_CATEGORY}, "
        f"in the last {lookback} days",
        why="" if not events else "the RPC Client Access service cannot update its performance counters",
        remediation=_remediation(world, local),
    )

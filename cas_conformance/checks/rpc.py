"""RPC-01/02: the RPC Client Access service on a server without the Client Access role (Event ID 106)."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import FactsUnavailable, Finding, check, one_line
from cas_conformance.facts import ExchangeServer
from cas_conformance.world import World


def _remediation(world: World, server: ExchangeServer) -> str:
    name = one_line(server.name)
    if server.is_client_access:
        return (
            "# reload the RPC Client Access performance counters on " + server.name + ":\n"
            'New-PerfCounters -DefinitionFileName "$env:ExchangeInstallPath\\Setup\\Perf\\'
            'RpcClientAccessPerformanceCounters.xml"; Restart-Service MSExchangeRPC'
        )
    if world.hosts_pf_database(server.name):
        return (
            f"# {name} hosts a public-folder database: MSExchangeRPC also answers Outlook's public-folder "
            "logons there, so do NOT disable it.\n"
            f"# Install the Client Access role on {name} (from the Exchange 2010 SP3 media):\n"
            "Setup.com /mode:install /roles:ClientAccess"
        )
    return (
        f"# if {name} should serve clients, install the Client Access role:\n"
        "#   Setup.com /mode:install /roles:ClientAccess\n"
        f"# otherwise, on {name}:\n"
        "Set-Service MSExchangeRPC -StartupType Disabled; Stop-Service MSExchangeRPC"
    )


@check("RPC-01", subjects.non_cas_servers)
def rpc_service_not_running_without_cas(world: World, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    facts = rec.require()
    error = facts.section_error("service")
    if error is not None:
        raise FactsUnavailable(f"{key}: reading the MSExchangeRPC service failed: {error.message}")
    service = next((s for s in facts.services if s.name.lower() == "msexchangerpc"), None)
    if service is None:
        raise FactsUnavailable(f"{key}: the collector did not report the MSExchangeRPC service")
    observed = (
        "not installed" if not service.present else f"State {service.state}, StartMode {service.start_mode}"
    )
    passed = not service.present or (service.state != "Running" and service.start_mode != "Auto")
    return Finding(
        "RPC-01",
        key,
        f"MSExchangeRPC on {local.name}",
        passed,
        observed,
        "not running and not set to start automatically (no Client Access role on this server)",
        why=""
        if passed
        else (
            f"{local.name} has no Client Access role (roles: {', '.join(local.server_role)}); the "
            "RPC Client Access service there logs Event ID 106 about missing counters"
        ),
        remediation=_remediation(world, local),
    )


@check("RPC-02", subjects.servers)
def no_event_106(world: World, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    facts = rec.require()
    error = facts.section_error("event")
    if error is not None:
        raise FactsUnavailable(f"{key}: reading the Application log failed: {error.message}")
    events = sorted(facts.events, key=lambda e: e.time_generated)
    lookback = rec.settings.eventlog_lookback_days
    if events:
        last = events[-1]
        excerpt = " ".join(last.message.split())[:300]
        observed = (
            f"{len(events)} event(s) {last.event_id} from {last.source}, last at "
            f"{last.time_generated.isoformat()}: {excerpt}"
        )
    else:
        observed = f"no Event ID 106 in the last {lookback} days"
    return Finding(
        "RPC-02",
        key,
        f"Application log of {local.name}",
        not events,
        observed,
        f"no Event ID 106 (RpcClientAccess performance counters) in the last {lookback} days",
        why="" if not events else "the RPC Client Access service cannot update its performance counters",
        remediation=_remediation(world, local),
    )

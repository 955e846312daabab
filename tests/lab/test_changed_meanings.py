"""Each changed requirement, both ways, on facts collected from the lab over real sockets: the
healthy variant passes under the requirement's current meaning, and the earlier reading (written
out here as it was) would have failed the very same facts. Its fault failing exactly that
requirement is in the fault matrix (tests/lab/test_fault_matrix.py)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from cas_conformance.checks.proxy import winhttp_proxy_as_declared
from cas_conformance.collector.parse import parse_collector_output
from cas_conformance.collector.script import CollectorParameters, collector_script
from cas_conformance.domain.facts import WinHttpSettings
from cas_conformance.domain.winhttp import read_winhttp_blob
from cas_conformance.evidence.model import frozen_map
from cas_conformance.evidence.view import EvidenceView, ServerRecord, host_of
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.lab.exchange.windows_shell import collector_parameters
from cas_conformance.lab.runtime import Lab
from cas_conformance.run.evaluate import Verdict, evaluate
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY


@dataclass
class Run:
    lab: Lab
    world: EvidenceView
    verdicts: list[Verdict]

    def outcomes(self, requirement: str) -> dict[str, str]:
        return {v.case: v.outcome for v in self.verdicts if v.requirement == requirement}


@contextmanager
def _lab(*faults: str) -> Iterator[Run]:
    lab = start_lab(HEALTHY, faults=faults)
    try:
        inventory = parse_inventory(lab.inventory_text(), str(lab.workdir / "lab.ini"))
        world = gather(
            plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ, forks=8)
        )
        yield Run(lab, world, evaluate(world))
        lab.check()
    finally:
        lab.stop()


def _all_passed(run: Run, requirement: str) -> None:
    outcomes = run.outcomes(requirement)
    assert outcomes and set(outcomes.values()) == {"passed"}, outcomes


# --- the earlier readings, as they were -----------------------------------------------------------


def _hosts_where(run: Run, rejected: Callable[[ServerRecord], bool]) -> list[str]:
    return [host for host, rec in run.world.servers.items() if rejected(rec)]


def _old_rpc01_fails(run: Run) -> list[str]:
    """RPC-01 then: MSExchangeRPC running or automatic on a server without Client Access fails."""

    def rejected(rec: ServerRecord) -> bool:
        facts = rec.require()
        (service,) = facts.services
        running = service.state == "Running" or service.start_mode == "Auto"
        return facts.local is not None and not facts.local.is_client_access and running

    return _hosts_where(run, rejected)


def _old_out2003_02_fails(run: Run) -> list[str]:
    """OUT2003-02 then: only EnablePushNotifications = 1 passed."""

    def rejected(rec: ServerRecord) -> bool:
        facts = rec.require()
        push = next(r for r in facts.registry if r.name == "EnablePushNotifications")
        cas = facts.local is not None and facts.local.is_client_access
        return cas and not (push.present and push.value == "1")

    return _hosts_where(run, rejected)


def _winhttp_of(rec: ServerRecord) -> WinHttpSettings:
    winhttp = rec.require().winhttp
    assert winhttp is not None
    return winhttp


def _old_proxy02_fails(run: Run) -> list[str]:
    """PROXY-02 then: the literal entry *.<dns_domain> was required."""

    def rejected(rec: ServerRecord) -> bool:
        winhttp = _winhttp_of(rec)
        wanted = f"*.{rec.settings.dns_domain}".lower()
        return bool(winhttp.proxy) and not any(e.lower() == wanted for e in winhttp.bypass_list)

    return _hosts_where(run, rejected)


def _old_proxy01_fails(run: Run) -> list[str]:
    """PROXY-01 then: any stored proxy string read as "proxy configured", flags ignored."""

    def rejected(rec: ServerRecord) -> bool:
        stored = read_winhttp_blob(_winhttp_of(rec).registry_hex).proxy
        return rec.settings.winhttp_proxy is None and bool(stored)

    return _hosts_where(run, rejected)


def _old_rpc02_fails(run: Run) -> list[str]:
    """RPC-02 then: the collector kept every 106 whose message matched 'RpcClientAccess'."""
    # what the lab reads from the script the collector would send with that pattern
    old = collector_parameters(collector_script(CollectorParameters(event_message_pattern="RpcClientAccess")))
    assert old is not None
    failing = []
    for server in run.lab.scenario.servers:
        facts = parse_collector_output(run.lab.collector.output(server, old), server.name)
        if facts.events:
            failing.append(server.name)
    return failing


def _old_owa03_fails(run: Run) -> list[str]:
    """OWA-03 then: only the hosting server's own addresses were accepted."""
    failing = []
    for host, rec in run.world.servers.items():
        facts = rec.require()
        for vdir in facts.vdirs:
            failback = host_of(vdir.failback_url)
            if vdir.kind.value != "owa" or not failback or facts.local is None:
                continue
            own = set(run.world.dns(facts.local.fqdn, "A").records)
            if not set(run.world.dns(failback, "A").records) & own:
                failing.append(host)
    return failing


CASES: list[tuple[str, tuple[str, ...], str, Callable[[Run], list[str]]]] = [
    ("mailbox-only server with MSExchangeRPC running and its counters", (), "RPC-01", _old_rpc01_fails),
    ("a CAS with a lowered polling interval and no push", (), "OUT2003-02", _old_out2003_02_fails),
    (
        "*.<parent domain> in the bypass lists",
        ("healthy-bypass-parent-domain",),
        "PROXY-02",
        _old_proxy02_fails,
    ),
    (
        "exact upper-case FQDNs in the bypass lists",
        ("healthy-bypass-exact-fqdns",),
        "PROXY-02",
        _old_proxy02_fails,
    ),
    (
        "flags=direct over a stale proxy string",
        ("healthy-winhttp-stale-proxy-string",),
        "PROXY-01",
        _old_proxy01_fails,
    ),
    ("106s of another category", ("healthy-other-category-106",), "RPC-02", _old_rpc02_fails),
    (
        "a failback name on a declared virtual IP",
        ("healthy-failback-on-virtual-ip",),
        "OWA-03",
        _old_owa03_fails,
    ),
]


@pytest.mark.parametrize(("what", "faults", "requirement", "old_fails"), CASES, ids=[c[0] for c in CASES])
def test_healthy_variant_passes_now_and_failed_under_the_earlier_reading(
    what: str, faults: tuple[str, ...], requirement: str, old_fails: Callable[[Run], list[str]]
) -> None:
    with _lab(*faults) as run:
        _all_passed(run, requirement)
        assert old_fails(run), f"{what}: the earlier reading of {requirement} would have passed too"


def test_the_mailbox_only_server_runs_the_service_by_default_and_fails_only_without_counters() -> None:
    with _lab("rpc-counters-missing") as run:
        failed = {case for case, outcome in run.outcomes("RPC-01").items() if outcome == "failed"}
        assert failed == {"mbx01"}
        finding = next(v for v in run.verdicts if v.requirement == "RPC-01" and v.outcome == "failed")
        assert (
            "Client Access role" in finding.detail
            and "Setup.com /mode:install /roles:ClientAccess" in finding.detail
        )
        assert not re.search(r"Disabled|Stop-Service|disable", finding.detail)


def test_the_rpc_02_remediation_names_the_client_access_role_and_never_disabling() -> None:
    with _lab("rpc-event-106") as run:
        (finding,) = [v for v in run.verdicts if v.requirement == "RPC-02" and v.outcome == "failed"]
        assert "Client Access role" in finding.detail
        assert not re.search(r"Disabled|Stop-Service|disable", finding.detail)


def test_owa_03_failure_says_which_addresses_were_accepted() -> None:
    with _lab("owa-failback-undeclared-vip") as run:
        (finding,) = [v for v in run.verdicts if v.requirement == "OWA-03" and v.outcome == "failed"]
        cas01 = run.lab.address_of("cas01")
        assert cas01 in finding.detail and "the server hosting this virtual directory" in finding.detail
        assert "failback_addresses" in finding.detail


def test_proxy_02_failure_names_the_servers_not_covered_and_keeps_existing_entries() -> None:
    with _lab("winhttp-bypass-misses-a-server") as run:
        (finding,) = [v for v in run.verdicts if v.requirement == "PROXY-02" and v.outcome == "failed"]
        assert "not covered (1): mbx01.contoso.lab" in finding.detail
        assert 'bypass-list="<local>;cas01.contoso.lab;cas02.contoso.lab;ex01.contoso.lab;*.contoso.lab"' in (
            finding.detail
        )


def test_proxy_01_registry_flags_win_over_a_netsh_text_that_shows_the_stale_proxy() -> None:
    with _lab("healthy-winhttp-stale-proxy-string") as run:
        key = next(k for k in run.world.servers if k.startswith("cas01"))
        rec = run.world.servers[key]
        facts = rec.require()
        assert facts.winhttp is not None
        shown = "Current WinHTTP proxy settings:\n\n    Proxy Server(s) :  oldproxy.contoso.lab:3128\n"
        changed = dataclasses.replace(facts, winhttp=dataclasses.replace(facts.winhttp, netsh_text=shown))
        servers = frozen_map({**run.world.servers, key: dataclasses.replace(rec, facts=changed)})
        world = EvidenceView(dataclasses.replace(run.world.evidence, os=servers))
        finding = winhttp_proxy_as_declared(world, key)
        assert finding.passed
        assert "the stored proxy string oldproxy.contoso.lab:3128 is unused" in finding.observed
        assert any("disagree: the registry value wins" in note for note in finding.notes)
        assert any("its flags say direct access" in note for note in finding.notes)

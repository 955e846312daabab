"""Reading Exchange fails closed: whatever one session attempt raises, the next Client Access
server is tried, and when none answers every organisation section is an error naming each attempt."""

from __future__ import annotations

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.psrp import ExchangeSession, PsrpTarget
from cas_conformance.errors import CollectionError
from cas_conformance.evidence import exchange
from cas_conformance.inventory import parse_inventory
from cas_conformance.settings import Secret, host_settings

INVENTORY = "cas01.contoso.lab\ncas02.contoso.lab\n[all:vars]\nansible_user = labadmin@CONTOSO.LAB\n"


def test_a_crash_in_one_attempt_is_that_attempts_failure_and_the_next_server_is_tried() -> None:
    inventory = parse_inventory(INVENTORY, "inventory.ini")
    hosts = {
        name: host_settings(inventory, inventory.hosts[name], password=Secret("pw"))
        for name in inventory.hosts
    }
    plan = exchange.plan(list(hosts), hosts, 4)
    assert plan is not None
    tried: list[str] = []

    def opener(target: PsrpTarget, dialer: Dialer) -> ExchangeSession:
        tried.append(target.host)
        if target.host == "cas01.contoso.lab":
            raise RuntimeError("a bug reading the session")
        raise CollectionError(target.host, "psrp", "connection refused")

    evidence = exchange.fetch(plan, Dialer(Resolver(None, timeout=1.0)), opener=opener)
    assert tried == ["cas01.contoso.lab", "cas02.contoso.lab"]
    assert evidence.organisation.attempts == (
        "cas01.contoso.lab: RuntimeError: a bug reading the session",
        "cas02.contoso.lab: connection refused",
    )
    assert evidence.organisation.errors and not evidence.servers
    assert all("RuntimeError: a bug reading the session" in e.message for e in evidence.organisation.errors)

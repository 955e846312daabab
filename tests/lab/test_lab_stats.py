"""What the lab received during a full run: one collector command per host, each DNS question
asked once per resolver, each TLS endpoint handshaken once (facts are gathered once per run and
shared by every check)."""

from __future__ import annotations

import pytest

from cas_conformance.gather import GatherOptions, gather
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY


# 12 generated servers publish more names than urllib3's default ten connection pools: every name
# must keep its one keep-alive connection for all its probes even so.
@pytest.mark.parametrize("servers", [0, 12], ids=["scenario", "12-servers"])
def test_one_collector_command_per_host_and_one_query_per_name(servers: int) -> None:
    lab = start_lab(HEALTHY, servers=servers)
    try:
        inventory = parse_inventory(lab.inventory_text(), "lab.ini")
        world = gather(inventory, GatherOptions(password=Secret(lab.password), environ=lab.environ))
        stats = lab.stats()
        ocsp_requests = lab.ocsp_requests()
    finally:
        lab.stop()
    assert stats["winrm_commands"] == {name: 1 for name in inventory.hosts}
    assert stats["dns_queries"] and max(stats["dns_queries"].values()) == 1, stats["dns_queries"]
    # every name the checks asked about was answered by the lab, not guessed
    assert {f"{a.name.lower().rstrip('.')} {a.rdtype}" for a in world.resolver.answers()} == set(
        stats["dns_queries"]
    )
    # each TLS endpoint handshaken once: the probes' own connection gives the chain
    assert stats["tls_handshakes"] and max(stats["tls_handshakes"].values()) == 1, stats["tls_handshakes"]
    # revocation is asked once per certificate, however many names serve it
    leaves = {h.chain_pem[0] for h in world.tls.values() if h.chain_pem}
    assert len(world.tls) > len(leaves) >= 1
    assert ocsp_requests == len(leaves)

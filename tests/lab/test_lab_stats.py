"""What the lab received during a full run: one collector command per host, each DNS question
asked once per resolver, each TLS endpoint handshaken once (facts are gathered once per run and
shared by every check)."""

from __future__ import annotations

import pytest

from cas_conformance.errors import FactsUnavailable
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.run.evaluate import evaluate
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY


# 12 generated servers publish more names than urllib3's default ten connection pools: every name
# must keep its one keep-alive connection for all its probes even so.
@pytest.mark.parametrize("servers", [0, 12], ids=["scenario", "12-servers"])
def test_one_collector_command_per_host_and_one_query_per_name(servers: int) -> None:
    lab = start_lab(HEALTHY, servers=servers)
    try:
        inventory = parse_inventory(lab.inventory_text(), "lab.ini")
        world = gather(plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ))
        stats = lab.stats()
        ocsp_requests = lab.ocsp_requests()
    finally:
        lab.stop()
    assert stats["winrm_commands"] == {name: 1 for name in inventory.hosts}
    # one -EncodedCommand each, under cmd.exe's 8,191 characters, and nothing on stdin
    assert set(stats["winrm_command_line_chars"]) == set(inventory.hosts)
    assert all(2000 < chars < 8191 for chars in stats["winrm_command_line_chars"].values())
    assert stats["winrm_stdin_bytes"] == {name: 0 for name in inventory.hosts}
    assert stats["dns_queries"] and max(stats["dns_queries"].values()) == 1, stats["dns_queries"]
    # every name the checks asked about was answered by the lab, not guessed
    assert {f"{a.name.lower().rstrip('.')} {a.rdtype}" for a in world.evidence.dns.answers.values()} == set(
        stats["dns_queries"]
    )
    # each TLS endpoint handshaken once: the probes' own connection gives the chain
    assert stats["tls_handshakes"] and max(stats["tls_handshakes"].values()) == 1, stats["tls_handshakes"]
    # revocation is asked once per certificate, however many names serve it
    leaves = {h.chain_pem[0] for h in world.tls.values() if h.chain_pem}
    assert len(world.tls) > len(leaves) >= 1
    assert ocsp_requests == len(leaves)


def test_exchange_facts_come_through_one_remote_powershell_session() -> None:
    """Organisation-wide cmdlets asked once per organisation, per-server ones once per server,
    all through one session to the first Client Access server of the inventory."""
    lab = start_lab(HEALTHY)
    try:
        inventory = parse_inventory(lab.inventory_text(), "lab.ini")
        world = gather(plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ))
        calls = lab.stats()["psrp_cmdlets"]
    finally:
        lab.stop()
    assert world.exchange.via == "cas01.contoso.lab" and not world.exchange.errors
    org = (
        "Get-ExchangeServer",
        "Get-MailboxDatabase",
        "Get-PublicFolderDatabase",
        "Get-ClientAccessArray",
        "Get-ClientAccessServer",
    )
    assert {c: calls.get(f"CAS01 {c}") for c in org} == dict.fromkeys(org, 1)
    cas = ("CAS01", "CAS02", "EX01")
    per_server = {
        **{
            f"Get-{n}VirtualDirectory": cas
            for n in ("Owa", "Ecp", "WebServices", "ActiveSync", "Oab", "Autodiscover")
        },
        "Get-OutlookAnywhere": cas,
        "Get-RpcClientAccess": cas,  # MBX01 neither serves clients nor holds a public-folder database
        "Get-ExchangeCertificate": (*cas, "MBX01"),
    }
    expected = {f"CAS01 {c} -Server {s}": 1 for c, servers in per_server.items() for s in servers}
    assert {k: v for k, v in calls.items() if " -Server " in k} == expected
    assert all(k.startswith("CAS01 ") for k in calls)
    # the facts the checks read are those answers
    cas01 = world.servers["cas01.contoso.lab"].facts
    assert cas01 is not None and {v.kind.value for v in cas01.vdirs} >= {"owa", "ews", "oab"}
    assert {s.name for s in cas01.servers} == {"CAS01", "CAS02", "MBX01", "EX01"}
    assert any("IIS" in c.services for c in cas01.certificates)


def test_no_exchange_session_makes_the_exchange_facts_errors_never_passes() -> None:
    """Every Client Access server's /PowerShell refused: the OS facts still arrive, and every check
    that needs Exchange facts is an error naming why (fail closed)."""
    from cas_conformance.run.evaluate import evaluate

    lab = start_lab(HEALTHY)
    try:
        text = lab.inventory_text().replace("exchange_powershell_port = 444", "exchange_powershell_port = 9")
        world = gather(
            plan_run(parse_inventory(text, "lab.ini"), password=Secret(lab.password)),
            GatherOptions(environ=lab.environ),
        )
        verdicts = evaluate(world)
    finally:
        lab.stop()
    assert world.exchange.via == "" and len(world.exchange.attempts) == 4
    assert all(r.facts is not None for r in world.servers.values())  # OS facts came over WinRM
    by_requirement: dict[str, set[str]] = {}
    for v in verdicts:
        by_requirement.setdefault(v.requirement, set()).add(v.outcome)
    for requirement in ("OUT-01", "OUT-02", "CERT-02", "OWA-03", "RPC-01", "VER-01"):
        assert by_requirement.get(requirement) == {"error"}, (requirement, by_requirement.get(requirement))
    reasons = " ".join(v.detail for v in verdicts if v.requirement == "OUT-01")
    assert "no Exchange remote PowerShell session" in reasons


def test_a_dead_first_client_access_server_falls_back_to_the_next() -> None:
    """cas01 refuses WinRM (a dead server): its /PowerShell is gone too, the session opens on
    cas02, and the report can name it."""
    lab = start_lab(HEALTHY, faults=["winrm-refused@cas01"])
    try:
        inventory = parse_inventory(lab.inventory_text() + "winrm_timeout = 10\n", "lab.ini")
        world = gather(plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ))
        calls = lab.stats()["psrp_cmdlets"]
    finally:
        lab.stop()
    assert world.exchange.via == "cas02.contoso.lab"
    (attempt,) = world.exchange.attempts
    assert attempt.startswith("cas01.contoso.lab: ") and "connection refused" in attempt
    assert calls["CAS02 Get-ExchangeServer"] == 1 and not any(k.startswith("CAS01 ") for k in calls)
    assert world.servers["cas01.contoso.lab"].facts is None  # its OS facts: WinRM refused
    assert world.servers["cas02.contoso.lab"].facts is not None


def test_the_checks_read_what_gathering_asked_and_send_nothing() -> None:
    """Once gathered, the EvidenceView answers DNS from what was asked: every check of the catalogue
    runs without one more question to the lab, and a name no check declared is an error naming
    it (fail closed), never a new query."""
    lab = start_lab(HEALTHY)
    try:
        inventory = parse_inventory(lab.inventory_text(), "lab.ini")
        world = gather(plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ))
        gathered = lab.stats()
        verdicts = evaluate(world)
        with pytest.raises(
            FactsUnavailable, match=r"DNS A of never-asked\.contoso\.lab .* no check declared"
        ):
            world.dns("never-asked.contoso.lab", "A")
        after = lab.stats()
    finally:
        lab.stop()
    assert verdicts and not [v for v in verdicts if v.outcome in ("failed", "error")]
    assert after == gathered

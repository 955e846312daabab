"""From outside the network, as the Remote Connectivity Analyzer works: an inventory with only a
``[published]`` group and the resolvers runs the connectivity checks, never WinRM."""

from __future__ import annotations

from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.run.evaluate import evaluate
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from tests.lab.conftest import HEALTHY


def test_published_names_alone_run_the_client_side_checks() -> None:
    lab = start_lab(HEALTHY)
    try:
        run = lab.run_vars()
        text = "\n".join(
            [
                "[published]",
                "mail.contoso.lab",
                "",
                "[all:vars]",
                f"dns_servers = {run['dns_servers']}",
                f"connect_to = {run['connect_to']}",
                f"tls_ca_bundle = {run['tls_ca_bundle']}",
                "smtp_domains = contoso.lab",
            ]
        )
        world = gather(
            plan_run(parse_inventory(text, "published.ini"), password=None), GatherOptions(environ={})
        )
        verdicts = evaluate(world)
        stats = lab.stats()
    finally:
        lab.stop()
    assert not stats["winrm_commands"], "a [published]-only inventory must never use WinRM"
    by_requirement: dict[str, set[str]] = {}
    for v in verdicts:
        by_requirement.setdefault(v.requirement, set()).add(v.outcome)
    assert set(by_requirement) == {
        "CONN-01",
        "CONN-02",
        "CONN-03",
        "CONN-04",
        "CONN-05",
        "CONN-06",
        "CONN-07",
    }
    assert all(outcomes == {"passed"} for r, outcomes in by_requirement.items() if r != "CONN-06"), (
        by_requirement
    )
    assert by_requirement["CONN-06"] == {"skipped"}
    assert {v.case for v in verdicts if v.requirement == "CONN-01"} == {
        "mail.contoso.lab",
        "autodiscover.contoso.lab",
    }
    probed = {v.case for v in verdicts if v.requirement == "CONN-05"}
    assert {
        "mail.contoso.lab/owa",
        "mail.contoso.lab/EWS/Exchange.asmx",
        "mail.contoso.lab/rpc/rpcproxy.dll",
        "mail.contoso.lab/Microsoft-Server-ActiveSync",
        "mail.contoso.lab/OAB",
    } <= probed

"""How a server that cannot run the collector looks: an error on that server only, with the reason
the real server gave (here the missing Exchange snap-in, as PowerShell reports it over WinRM)."""

from __future__ import annotations

from cas_conformance.evaluate import evaluate
from cas_conformance.gather import GatherOptions, gather
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.runtime import Lab
from cas_conformance.lab.scenario import load_scenario
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY


def test_missing_snapin_is_an_error_on_that_server_only() -> None:
    scenario = load_scenario(HEALTHY)
    scenario.server("CAS02").snapin_missing = True
    with Lab(scenario) as lab:
        inventory = parse_inventory(lab.inventory_text(), "lab.ini")
        world = gather(inventory, GatherOptions(password=Secret(lab.password), environ=lab.environ))
    record = world.servers["cas02.contoso.lab"]
    assert record.facts is None and record.error is not None
    assert "snap-in 'Microsoft.Exchange.Management.PowerShell.E2010' is not installed" in record.error.reason
    verdicts = evaluate(world)
    errors = [v for v in verdicts if v.outcome == "error"]
    assert errors and all(v.case.startswith("cas02") for v in errors)
    assert not [v for v in verdicts if v.outcome == "failed"]


def test_wrong_password_is_an_authentication_error_per_server() -> None:
    scenario = load_scenario(HEALTHY)
    with Lab(scenario, password="the-right-one") as lab:
        inventory = parse_inventory(lab.inventory_text(), "lab.ini")
        world = gather(inventory, GatherOptions(password=Secret("a-wrong-one"), environ={}))
    reasons = {r.error.reason for r in world.servers.values() if r.error}
    # the same reason on every server, after the WinRM URL each names
    causes = {reason.rsplit("/wsman: ", 1)[-1] for reason in reasons}
    assert len(reasons) == 4 and len(causes) == 1 and "authentication failed" in causes.pop()
    assert all(r.facts is None for r in world.servers.values())

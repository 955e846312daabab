"""Per-test work that must not grow with the organisation: every server shares the published
certificate, and the replacement request each of its findings carries is worked out once."""

from __future__ import annotations

import pytest

from cas_conformance.checks import certificate_request
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.run.evaluate import evaluate
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY


def test_certificate_findings_walk_the_organisation_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once per certificate, not once per finding: that grew with the square of the organisation
    (57 of 85 CPU seconds of a 200-server run, profiled)."""
    walks = 0
    real = certificate_request.names_needed

    def counted(facts: object) -> dict[str, str]:
        nonlocal walks
        walks += 1
        return real(facts)  # type: ignore[arg-type]

    monkeypatch.setattr(certificate_request, "names_needed", counted)
    servers = 20
    lab = start_lab(HEALTHY, servers=servers)
    try:
        inventory = parse_inventory(lab.inventory_text(), "lab.ini")
        world = gather(plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ))
    finally:
        lab.stop()
    verdicts = evaluate(world)
    assert any(v.requirement.startswith("CERT") for v in verdicts)
    assert 0 < walks <= servers  # each server's IIS certificate's holders are found once

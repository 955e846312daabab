"""Shared helpers for tests that run the whole lab in-process."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.lab.runtime import Lab
from cas_conformance.run.evaluate import Verdict, evaluate
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = ROOT / "fixtures" / "lab" / "healthy.toml"


def run_lab(faults: Sequence[str] = (), scenario: Path = HEALTHY) -> list[Verdict]:
    """Start the lab with *faults*, gather over real sockets, evaluate every requirement."""
    lab = start_lab(scenario, faults=faults)
    try:
        inventory = parse_inventory(lab.inventory_text(), str(lab.workdir / "lab.ini"))
        world = gather(
            plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ, forks=16)
        )
        verdicts = evaluate(world)
        lab.check()
        return verdicts
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """The healthy scenario, started once per module that asks for it; the servers' own errors
    (``Lab.check``) fail the module's last test."""
    lab = start_lab(HEALTHY)
    try:
        yield lab
        lab.check()
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def healthy_verdicts() -> list[Verdict]:
    return run_lab()

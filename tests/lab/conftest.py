"""Shared helpers for tests that run the whole lab in-process, and the lab over Kerberos (also the
fixtures of tests/kerberos)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.auth.kdc import INSTALL_HINT, KdcUnavailable, kdc_programs
from cas_conformance.lab.embedded import start_lab
from cas_conformance.lab.runtime import Lab
from cas_conformance.lab.scenario.model import load_scenario
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


# A real MIT KDC (Debian's krb5-kdc) and a lab reached over Kerberos, one of each per test session.
#
# `make test` installs MIT Kerberos and the ``kerberos`` extra where they are missing. When they are
# still missing the Kerberos tests fail in CI (CI=true), where a skipped test would hide an untested
# transport, and skip elsewhere with what to install.


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"Kerberos tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kerberos_ready() -> None:
    try:
        kdc_programs()
    except KdcUnavailable as exc:
        _unavailable(str(exc))
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError as exc:
        _unavailable(f"python-gssapi or krb5 missing ({exc}): {INSTALL_HINT}")


@pytest.fixture(scope="session")
def kerberos_lab(kerberos_ready: None) -> Iterator[Lab]:
    """The healthy scenario with its KDC: realm CONTOSO.LAB, HTTP/ and WSMAN/ for every server."""
    lab = Lab(load_scenario(HEALTHY), kerberos=True).start()
    try:
        yield lab
    finally:
        lab.stop()

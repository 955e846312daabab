"""Fail closed under network and collector faults: the faulty host's tests error with a clear
reason, every other host is checked as usual, and nothing waits longer than its timeout."""

from __future__ import annotations

import time

import pytest

from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.lab.scenario.faults import HOST_FAULTS
from cas_conformance.run.evaluate import evaluate
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY

WINRM_TIMEOUT = 3
EXPECTED = {
    "winrm-refused": "connection refused",
    "winrm-blackhole": "timed out",
    "winrm-slow": f"timed out after {WINRM_TIMEOUT} s (winrm_timeout)",
    "winrm-http-500": "WinRM answered HTTP 500",
    "winrm-wrong-credentials": "authentication failed",
    "collector-truncated": "truncated",
    "collector-garbled": "malformed line",
    "collector-unknown-version": "version 7",
    "collector-endless": "cut off",
    "dns-servfail": "SERVFAIL",
    "dns-timeout": "TIMEOUT",
    "dns-nxdomain": "NXDOMAIN",
}


def test_every_host_fault_has_an_expected_reason() -> None:
    assert set(EXPECTED) == set(HOST_FAULTS)


@pytest.mark.parametrize("fault", sorted(HOST_FAULTS))
def test_host_fault_errors_that_host_only(fault: str) -> None:
    lab = start_lab(HEALTHY, faults=[f"{fault}@cas02"])
    try:
        # 32 MiB must arrive before the deadline to be cut off: time enough under load (it ends at the cut)
        timeout = 30 if fault == "collector-endless" else WINRM_TIMEOUT
        text = lab.inventory_text() + f"winrm_timeout = {timeout}\ndns_timeout = 1\n"
        started = time.monotonic()
        world = gather(
            plan_run(parse_inventory(text, "lab.ini"), password=Secret(lab.password)),
            GatherOptions(environ=lab.environ),
        )
        elapsed = time.monotonic() - started
        verdicts = evaluate(world)
    finally:
        lab.stop()
    record = world.servers["cas02.contoso.lab"]
    assert record.facts is None and record.error is not None
    assert EXPECTED[fault] in record.error.reason, record.error.reason
    assert all(r.facts is not None for name, r in world.servers.items() if name != "cas02.contoso.lab")
    errors = [v for v in verdicts if v.outcome == "error"]
    assert errors and all(v.case.startswith("cas02") for v in errors), [
        (v.requirement, v.case) for v in errors
    ]
    failures = [f"{v.requirement}[{v.case}]: {v.detail}" for v in verdicts if v.outcome == "failed"]
    assert not failures, "\n".join(failures)
    assert elapsed < timeout + 10, f"gathering took {elapsed:.1f} s"


def test_endpoints_are_probed_while_a_slow_server_is_still_being_collected() -> None:
    """When the slow server's collection ends (here: its winrm_timeout), the servers that answered
    early have had their names probed already: probes do not wait for the slowest server."""
    lab = start_lab(HEALTHY, faults=["winrm-slow@cas02"])
    handshakes_when_slow_ended: dict[str, int] = {}

    def progress(event: str, subject: str, detail: str) -> None:
        if event == "collect-done" and subject == "cas02.contoso.lab":
            handshakes_when_slow_ended.update(lab.stats()["tls_handshakes"])

    try:
        # twice the other tests' timeout: the early servers' collection and probes fit well inside
        # it also on a loaded machine (about a second on an idle one)
        text = lab.inventory_text() + f"winrm_timeout = {2 * WINRM_TIMEOUT}\n"
        world = gather(
            plan_run(parse_inventory(text, "lab.ini"), password=Secret(lab.password)),
            GatherOptions(environ=lab.environ, progress=progress),
        )
    finally:
        lab.stop()
    assert world.servers["cas02.contoso.lab"].facts is None
    early = {e.host for e in world.endpoints.values() if e.server == "cas01.contoso.lab"}
    assert early, "cas01 publishes endpoints"
    probed = {key.rsplit(":", 1)[0] for key in handshakes_when_slow_ended}
    assert early <= probed, (early, handshakes_when_slow_ended)

"""Issue-style demo of failing closed: the healthy lab plus one refused and one black-holed server
(ansible_host/ansible_port pointing at a closed port and at a listener that never answers). Those
hosts' tests error with the reason, all others pass, and the run ends within the timeout."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WINRM_TIMEOUT = 10


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A listener that completes TCP handshakes (the kernel does) and never reads or answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more: connections are refused
    return port


def test_refused_and_black_holed_hosts_error_the_rest_pass(
    pytester: pytest.Pytester, black_hole: int, closed_port: int
) -> None:
    lab = (
        (ROOT / "inventory.ini")
        .read_text()
        .replace(
            "lab_scenario = fixtures/lab/healthy.toml", f"lab_scenario = {ROOT / 'fixtures/lab/healthy.toml'}"
        )
    )
    common = f"ansible_user=labadmin winrm_timeout={WINRM_TIMEOUT} ansible_winrm_scheme=http"
    extra = (
        f"refused.contoso.lab ansible_host=127.0.0.1 ansible_port={closed_port} {common}\n"
        f"blackhole.contoso.lab ansible_host=127.0.0.1 ansible_port={black_hole} {common}\n"
    )
    inventory = pytester.path / "lab-plus-two.ini"
    inventory.write_text(extra + lab)
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--inventory",
        str(inventory),
        str(ROOT / "tests_cas"),
        "-p",
        "no:cacheprovider",
        "-rE",
        "--html=report.html",
        "--junitxml=junit.xml",
    )
    elapsed = time.monotonic() - started
    assert result.ret == 1
    out = result.stdout.str()
    # one line per dead host for its cause (the tests' errors are in junit.xml and results.json)
    assert not [line for line in out.splitlines() if line.startswith("ERROR ")]
    junit = (pytester.path / "junit.xml").read_text()
    assert "refused.contoso.lab: could not collect facts over winrm" in junit
    assert f"refused.contoso.lab: WinRM http://127.0.0.1:{closed_port}/wsman: connection refused;" in out
    assert f"blackhole.contoso.lab: WinRM http://127.0.0.1:{black_hole}/wsman: " in out
    assert "blackhole.contoso.lab: could not collect facts over winrm: WinRM http" in junit
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] > 80
    assert elapsed < WINRM_TIMEOUT + 30, f"the run took {elapsed:.0f} s"

"""The lab's WinRM HTTPS listener speaks TLS as its scenario says: 1.0 only by default (Windows
Server 2008 R2 as shipped), up to 1.1 or 1.2 with ``[organisation] winrm_tls``; the suite
collects from it either way and warns only where TLS 1.2 is not offered."""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cas_conformance.errors import LabError
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.runtime import Lab
from cas_conformance.lab.scenario.faults import apply_faults
from cas_conformance.lab.scenario.model import load_scenario
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY


def _lab(winrm_tls: str | None) -> Iterator[Lab]:
    scenario = load_scenario(HEALTHY)
    if winrm_tls is not None:
        scenario.winrm_tls = winrm_tls
    apply_faults(scenario, scenario.faults)
    lab = Lab(scenario).start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def default_lab() -> Iterator[Lab]:
    yield from _lab(None)


@pytest.fixture(scope="module")
def tls12_lab() -> Iterator[Lab]:
    yield from _lab("1.2")


def _handshake(lab: Lab, minimum: ssl.TLSVersion) -> str | None:
    """The version a client accepting *minimum* and up gets from CAS01's WinRM HTTPS listener."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum
    address = lab.server_address("CAS01")
    assert address is not None
    sock = socket.create_connection((address, lab.ports["winrm-https"]), timeout=10)
    with sock, context.wrap_socket(sock, server_hostname="cas01.contoso.lab") as tls:
        return tls.version()


def _gather_warnings(lab: Lab) -> list[str]:
    inventory = parse_inventory(lab.inventory_text(), str(lab.workdir / "lab.ini"))
    lines: list[str] = []

    def progress(event: str, subject: str, detail: str) -> None:
        if event == "warning":
            lines.append(detail)

    options = GatherOptions(environ=lab.environ, forks=8, progress=progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        world = gather(plan_run(inventory, password=Secret(lab.password)), options)
    assert all(record.facts is not None for record in world.servers.values()), {
        name: record.error for name, record in world.servers.items()
    }
    return lines


def test_the_default_listener_offers_tls_1_0_only(default_lab: Lab) -> None:
    assert default_lab.scenario.winrm_tls == "1.0"
    assert _handshake(default_lab, ssl.TLSVersion.TLSv1) == "TLSv1"
    with pytest.raises(ssl.SSLError):
        _handshake(default_lab, ssl.TLSVersion.TLSv1_2)  # urllib3 2.x's default minimum


def test_the_suite_collects_there_and_warns_once_per_server(default_lab: Lab) -> None:
    lines = _gather_warnings(default_lab)
    tls = [line for line in lines if "spoke TLSv1 only" in line]
    servers = [x.fqdn(default_lab.scenario.domain) for x in default_lab.scenario.servers]
    assert sorted(line.split(":")[0] for line in tls) == sorted(servers)


def test_a_scenario_offering_tls_1_2_gets_no_tls_warning(tls12_lab: Lab) -> None:
    assert _handshake(tls12_lab, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert not [line for line in _gather_warnings(tls12_lab) if "TLS" in line]


def test_an_unknown_version_is_a_scenario_error(tmp_path: Path) -> None:
    text = HEALTHY.read_text(encoding="utf-8").replace(
        "[organisation]", '[organisation]\nwinrm_tls = "1.3"', 1
    )
    path = tmp_path / "tls13.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        LabError, match=r'tls13.toml: \[organisation\] winrm_tls = .1\.3.: use one of "1.0", "1.1", "1.2"'
    ):
        load_scenario(path)

"""CredSSP (MS-CSSP) on the lab's WinRM HTTPS listener: pywinrm's ``credssp`` transport collects the
OS facts, and its delegated credentials carry the old snap-in path past the double hop."""

from __future__ import annotations

import pytest
from requests_credssp.exceptions import NTStatusException

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.winrm import _protocol
from cas_conformance.evidence.os import winrm_target
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.auth.ntlm import ConnectionAuthenticator, LabUsers
from cas_conformance.lab.runtime import Lab
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import HostSettings, Secret, host_settings, run_settings
from tests.lab.test_collector_failures import OLD_WAY, _run

HOST = "cas01.contoso.lab"


def _inventory_text(lab: Lab, transport: str) -> str:
    return lab.inventory_text().replace(
        "ansible_winrm_transport = ntlm", f"ansible_winrm_transport = {transport}"
    )


def _settings(lab: Lab, transport: str) -> tuple[HostSettings, Dialer]:
    inventory = parse_inventory(_inventory_text(lab, transport), str(lab.workdir / "lab.ini"))
    run = run_settings(inventory)
    settings = host_settings(inventory, inventory.hosts[HOST], password=Secret(lab.password))
    return settings, Dialer(Resolver(run.dns_servers, timeout=5.0), run.connect_to)


def _snapin(lab: Lab, transport: str) -> tuple[bytes, bytes, int]:
    settings, dialer = _settings(lab, transport)
    assert settings.transport == transport and settings.scheme == "https"
    return _run(_protocol(winrm_target(settings), dialer), OLD_WAY)


def test_the_lab_inventory_with_credssp_collects_the_os_facts(lab: Lab) -> None:
    text = _inventory_text(lab, "credssp")
    assert "ansible_winrm_transport = credssp" in text
    inventory = parse_inventory(text, str(lab.workdir / "lab.ini"))
    world = gather(plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ))
    assert all(r.error is None and r.facts is not None for r in world.servers.values()), world.servers


def test_credssp_delegates_so_the_snap_in_passes_the_second_hop(lab: Lab) -> None:
    out, err, code = _snapin(lab, "credssp")
    assert (code, err) == (0, b"") and b"CAS01" in out and b"not available" not in err


def test_the_same_snap_in_over_ntlm_still_gets_the_double_hop_error(lab: Lab) -> None:
    out, err, code = _snapin(lab, "ntlm")
    assert code == 1 and out == b"" and b"Active Directory server dc01.contoso.lab is not available" in err


def test_a_wrong_password_under_credssp_is_refused(lab: Lab) -> None:
    settings, dialer = _settings(lab, "credssp")
    settings = HostSettings(**{**settings.__dict__, "password": Secret("not-" + lab.password)})
    with pytest.raises(NTStatusException) as caught:  # the TSRequest error code, as Windows answers
        _protocol(winrm_target(settings), dialer).open_shell()
    assert caught.value.status == 0x8009030C  # SEC_E_LOGON_DENIED
    assert lab.password not in str(caught.value)


def test_credssp_is_offered_over_https_only() -> None:
    users = LabUsers({"labadmin": "Pw-1"})
    try:
        assert "CredSSP" in ConnectionAuthenticator(users, tls=True, credssp=True).offers
        assert "CredSSP" not in ConnectionAuthenticator(users, tls=False, credssp=True).offers
        assert "CredSSP" not in ConnectionAuthenticator(users, tls=True).offers
        plain = ConnectionAuthenticator(users, tls=False, credssp=True).authenticate("CredSSP AAAA")
        assert plain.user is None and "CredSSP" not in plain.challenges
    finally:
        users.close()

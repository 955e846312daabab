"""How a server that cannot run what it is sent looks, and how the lab answers the old way of
reading Exchange (the snap-in inside an NTLM WinRM shell) as a real server does: the double hop."""

from __future__ import annotations

import base64

import pytest
import winrm

from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.lab.runtime import Lab
from cas_conformance.lab.scenario.model import load_scenario
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY

OLD_WAY = (
    "$ErrorActionPreference='Stop'\n"
    "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.E2010\n"
    "Get-ExchangeServer | Select-Object Name, Fqdn\n"
)
# the bootstrap earlier versions sent, with the real script on stdin
OLD_BOOTSTRAP = (
    "$ErrorActionPreference='Stop';$s=[Console]::In.ReadToEnd();"
    "try{& ([ScriptBlock]::Create($s))}catch{[Console]::Error.WriteLine('failed: '+$_);exit 1};exit $LASTEXITCODE"
)


@pytest.fixture(scope="module")
def shell() -> object:
    lab = start_lab(HEALTHY)
    ip = lab.server_address("cas01.contoso.lab")
    # Plain HTTP with NTLM message encryption: the lab's HTTPS listener offers TLS 1.0 only, as
    # Windows Server 2008 R2 does, which stock pywinrm (urllib3's TLS 1.2 minimum) cannot speak.
    protocol = winrm.Protocol(
        f"http://{ip}:{lab.ports['winrm-http']}/wsman",
        transport="ntlm",
        username=lab.user,
        password=lab.password,
        ca_trust_path=str(lab.ca_bundle),  # explicit, as the collector does (not REQUESTS_CA_BUNDLE)
    )
    try:
        yield lab, protocol
    finally:
        lab.stop()


def _run(protocol: winrm.Protocol, script: str, stdin: bytes = b"") -> tuple[bytes, bytes, int]:
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()
    shell_id = protocol.open_shell(codepage=65001)
    try:
        command = protocol.run_command(shell_id, "powershell.exe", ["-NoProfile", "-EncodedCommand", encoded])
        if stdin:
            protocol.send_command_input(shell_id, command, stdin, end=True)
        out, err, code = protocol.get_command_output(shell_id, command)
        protocol.cleanup_command(shell_id, command)
    finally:
        protocol.close_shell(shell_id)
    return out, err, code


def test_the_snap_in_in_an_ntlm_shell_gets_the_double_hop_error(shell: tuple[Lab, winrm.Protocol]) -> None:
    _lab, protocol = shell
    out, err, code = _run(protocol, OLD_WAY)
    assert code == 1 and out == b""
    assert b"Active Directory server dc01.contoso.lab is not available" in err
    assert b"ADTransientException" in err and b"Get-ExchangeServer" in err


def test_a_script_sent_on_stdin_never_reaches_a_powershell_2_bootstrap(
    shell: tuple[Lab, winrm.Protocol],
) -> None:
    """PowerShell 2.0's host consumes redirected stdin as pipeline input: the old bootstrap read
    nothing, ran nothing and printed nothing (the lab used to hand it the whole script)."""
    lab, protocol = shell
    before = sum(lab.stats()["winrm_stdin_bytes"].values())
    out, _err, code = _run(protocol, OLD_BOOTSTRAP, stdin=OLD_WAY.encode())
    assert (out, code) == (b"", 0)
    assert sum(lab.stats()["winrm_stdin_bytes"].values()) - before == len(OLD_WAY)  # sent, and counted


def test_a_script_the_lab_does_not_know_gets_a_powershell_error(shell: tuple[Lab, winrm.Protocol]) -> None:
    _lab, protocol = shell
    out, err, code = _run(protocol, "Get-Process | Sort-Object CPU")
    assert code == 1 and out == b"" and b"CommandNotFoundException" in err
    assert b"#CASCONF" not in out


def test_wrong_password_is_an_authentication_error_per_server() -> None:
    scenario = load_scenario(HEALTHY)
    with Lab(scenario, password="the-right-one") as lab:
        inventory = parse_inventory(lab.inventory_text(), "lab.ini")
        world = gather(plan_run(inventory, password=Secret("a-wrong-one")), GatherOptions(environ={}))
    reasons = {r.error.reason for r in world.servers.values() if r.error}
    # the same reason on every server, after the WinRM URL each names
    causes = {reason.rsplit("/wsman: ", 1)[-1] for reason in reasons}
    assert len(reasons) == 4 and len(causes) == 1 and "authentication failed" in causes.pop()
    assert all(r.facts is None for r in world.servers.values())

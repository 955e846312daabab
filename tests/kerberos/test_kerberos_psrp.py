"""Exchange remote PowerShell as the /PowerShell virtual directory is by default: plain HTTP with
Kerberos, every message sealed (MS-WSMV) with the Kerberos context; NTLM, unsealed messages and Basic
over HTTP refused; ``ansible_winrm_kinit_mode = manual`` with the user's own ticket, no password."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.psrp import Cmdlet, ExchangeSession, PsrpTarget
from cas_conformance.channels.winrm import _protocol
from cas_conformance.errors import CollectionError
from cas_conformance.evidence.exchange import psrp_target
from cas_conformance.evidence.os import winrm_target
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab import Lab
from cas_conformance.settings import HostSettings, Secret, host_settings, run_settings
from cas_conformance.settings.connect_to import parse_connect_to

CAS = "cas01.contoso.lab"


@pytest.fixture
def client_config(kerberos_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    assert kerberos_lab.kdc is not None
    monkeypatch.setenv("KRB5_CONFIG", str(kerberos_lab.kdc.krb5_conf))


def _dialer(lab: Lab) -> Dialer:
    """Names resolved by the lab's DNS, ports mapped by its connect_to rules (as a run does)."""
    run = run_settings(parse_inventory(lab.inventory_text(), str(lab.workdir / "lab.ini")))
    return Dialer(Resolver(run.dns_servers, timeout=5.0), run.connect_to)


def _settings(lab: Lab, extra: str = "") -> HostSettings:
    inventory = parse_inventory(lab.inventory_text() + extra, str(lab.workdir / "lab.ini"))
    return host_settings(inventory, inventory.hosts[CAS], password=Secret(lab.password))


def _target(lab: Lab, extra: str = "", **changes: object) -> PsrpTarget:
    settings = _settings(lab, extra)
    target = psrp_target(
        settings, CAS, auth=settings.exchange_powershell_auth, scheme=settings.exchange_powershell_scheme
    )
    return dataclasses.replace(target, port=settings.exchange_powershell_port, **changes)  # type: ignore[arg-type]


def _wsman(lab: Lab, auth: str, *, encryption: str = "auto", ssl: bool = False) -> WSMan:
    """pypsrp straight to the lab's address (its HTTP or HTTPS port), Host header the CAS's name."""
    address = lab.server_address(CAS)
    assert address is not None
    return WSMan(
        CAS,
        port=lab.ports["https" if ssl else "http"],
        path="PowerShell/",
        ssl=ssl,
        auth=auth,
        username=lab.kdc.principal("labadmin") if lab.kdc is not None and auth == "kerberos" else lab.user,
        password=lab.password,
        cert_validation=str(lab.ca_bundle),
        encryption=encryption,
        no_proxy=True,
        negotiate_service="HTTP",
    )


def _connect_to_lab(wsman: WSMan, lab: Lab) -> None:
    """Point the name at the CAS's loopback address (the suite does this with its dialer)."""
    address = lab.server_address(CAS)
    session = wsman.transport._build_session()
    dialer = Dialer(None, parse_connect_to(f"{CAS}:{wsman.transport.port}:{address}:{wsman.transport.port}"))
    from cas_conformance.channels import tls_client

    tls_client.mount(session, dialer, tls_client.client_context(verify=True))
    session.verify = str(lab.ca_bundle)
    wsman.transport.session = session


def test_lab_inventory_uses_the_default_path(kerberos_lab: Lab) -> None:
    text = kerberos_lab.inventory_text()
    assert "exchange_powershell_scheme = http" in text and "exchange_powershell_port" not in text
    target = _target(kerberos_lab)
    assert target.url == f"http://{CAS}:80/PowerShell/" and target.auth == "kerberos"


def test_kerberos_over_http_reads_exchange_sealed(kerberos_lab: Lab, client_config: None) -> None:
    before = kerberos_lab.stats()["psrp_cmdlets"].get("CAS01 Get-ExchangeServer", 0)
    with ExchangeSession(_target(kerberos_lab), _dialer(kerberos_lab)) as session:
        servers = session.run(Cmdlet("Get-ExchangeServer"))
    assert {str(s["Name"]) for s in servers} == {"CAS01", "CAS02", "MBX01", "EX01"}
    assert kerberos_lab.stats()["psrp_cmdlets"].get("CAS01 Get-ExchangeServer", 0) == before + 1


def test_unsealed_messages_over_http_get_401(kerberos_lab: Lab, client_config: None) -> None:
    """AllowUnencrypted is false: a Kerberos-authenticated but unsealed message is refused."""
    wsman = _wsman(kerberos_lab, "kerberos", encryption="never")
    _connect_to_lab(wsman, kerberos_lab)
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman, configuration_name="Microsoft.Exchange").open()


@pytest.mark.parametrize("ssl", [False, True], ids=["http", "https"])
def test_ntlm_on_powershell_gets_401(kerberos_lab: Lab, ssl: bool) -> None:
    """kerbauth takes Kerberos only: the right password under NTLM opens no session."""
    wsman = _wsman(kerberos_lab, "ntlm", ssl=ssl)
    _connect_to_lab(wsman, kerberos_lab)
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman, configuration_name="Microsoft.Exchange").open()


def test_basic_over_http_is_refused_by_the_lab(kerberos_lab: Lab) -> None:
    wsman = _wsman(kerberos_lab, "basic", encryption="never")
    _connect_to_lab(wsman, kerberos_lab)
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman, configuration_name="Microsoft.Exchange").open()


def test_basic_over_http_is_refused_by_the_client_before_sending(kerberos_lab: Lab) -> None:
    settings = dataclasses.replace(_settings(kerberos_lab), exchange_powershell_auth="basic")
    with pytest.raises(
        CollectionError, match=r"only allowed over HTTPS \(exchange_powershell_scheme = https\)"
    ):
        psrp_target(settings, CAS, auth="basic", scheme="http")


def test_manual_kinit_mode_needs_no_password(
    kerberos_lab: Lab, client_config: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert kerberos_lab.kdc is not None
    ccache = tmp_path / "ccache"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    settings = dataclasses.replace(
        _settings(kerberos_lab, "ansible_winrm_kinit_mode = manual\n"), password=None
    )
    target = psrp_target(settings, CAS, auth="kerberos", scheme="http")
    assert target.password is None
    with pytest.raises(CollectionError) as caught:  # no ticket yet
        ExchangeSession(target, _dialer(kerberos_lab)).open()
    assert (
        "no ticket in the credential cache" in caught.value.reason
        and "run kinit first" in caught.value.reason
    )
    assert kerberos_lab.password not in str(caught.value)
    assert kerberos_lab.kdc.kinit("labadmin", kerberos_lab.password, ccache).returncode == 0
    with ExchangeSession(target, _dialer(kerberos_lab)) as session:
        assert session.run(Cmdlet("Get-ExchangeServer"))


def test_managed_mode_without_a_password_is_an_error(kerberos_lab: Lab) -> None:
    settings = dataclasses.replace(_settings(kerberos_lab), password=None)
    with pytest.raises(CollectionError, match="no password"):
        psrp_target(settings, CAS, auth="kerberos", scheme="http")


@pytest.mark.parametrize("delegate", [False, True], ids=["no-delegation", "delegation"])
def test_a_delegated_kerberos_ticket_gets_the_snap_in_past_the_double_hop(
    kerberos_lab: Lab, delegate: bool
) -> None:
    """The WinRM logon can reach the domain controller only with the user's forwarded ticket."""
    from tests.lab.test_collector_failures import OLD_WAY, _run

    extra = "ansible_winrm_kerberos_delegation = yes\n" if delegate else ""
    inventory = parse_inventory(kerberos_lab.inventory_text() + extra, str(kerberos_lab.workdir / "lab.ini"))
    settings = host_settings(inventory, inventory.hosts[CAS], password=Secret(kerberos_lab.password))
    assert settings.transport == "kerberos" and settings.kerberos.delegation is delegate
    out, err, code = _run(_protocol(winrm_target(settings), _dialer(kerberos_lab)), OLD_WAY)
    if delegate:
        assert (code, err) == (0, b"") and b"CAS01" in out
    else:
        assert code == 1 and b"Active Directory server dc01.contoso.lab is not available" in err


def test_a_wrong_password_is_named_as_such(kerberos_lab: Lab, client_config: None) -> None:
    settings = dataclasses.replace(_settings(kerberos_lab), password=Secret("not-" + kerberos_lab.password))
    target = psrp_target(settings, CAS, auth="kerberos", scheme="http")
    with pytest.raises(CollectionError) as caught:
        ExchangeSession(target, _dialer(kerberos_lab)).open()
    assert "Kerberos authentication of labadmin@CONTOSO.LAB failed: wrong password" in caught.value.reason
    assert kerberos_lab.password not in str(caught.value)

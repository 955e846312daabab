"""Kerberos end to end: pywinrm over Kerberos (HTTP sealed, HTTPS) and the suite, against the lab
(its acceptor alone: tests/lab/test_kerberos_acceptor.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cas_conformance.channels import kerberos
from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.kerberos import Krb5Config
from cas_conformance.channels.winrm import WinrmKerberos, WinrmTarget, _protocol, run_collector
from cas_conformance.collector.script import CollectorParameters, collector_command
from cas_conformance.errors import CollectionError
from cas_conformance.evidence.os import winrm_target
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab import Lab, start_lab
from cas_conformance.run.evaluate import evaluate
from cas_conformance.run.facts_file import load_world, save_world
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret, host_settings, run_settings
from tests.lab.conftest import HEALTHY

ROOT = Path(__file__).resolve().parents[2]
HOST = "cas01.contoso.lab"


def _settings(lab: Lab, **changes: str) -> tuple[WinrmTarget, Dialer]:
    text = lab.inventory_text() + "".join(f"{k} = {v}\n" for k, v in changes.items())
    inventory = parse_inventory(text, str(lab.workdir / "lab.ini"))
    run = run_settings(inventory)
    settings = host_settings(inventory, inventory.hosts[HOST], password=Secret(lab.password))
    return winrm_target(settings), Dialer(Resolver(run.dns_servers, timeout=5.0), run.connect_to)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_pywinrm_shell_lifecycle_over_kerberos(kerberos_lab: Lab, scheme: str) -> None:
    settings, dialer = _settings(kerberos_lab, ansible_winrm_scheme=scheme)
    assert settings.transport == "kerberos" and settings.user == "labadmin@CONTOSO.LAB"
    protocol = _protocol(settings, dialer)
    shell = protocol.open_shell(codepage=65001)
    command = protocol.run_command(shell, "hostname", [])
    out, err, code = protocol.get_command_output(shell, command)
    auth, encryption = protocol.transport.session.auth, protocol.transport.encryption
    protocol.cleanup_command(shell, command)
    protocol.close_shell(shell)  # pywinrm closes its session with the shell
    assert code == 1 and b"'hostname' is not recognized" in out + err
    assert isinstance(auth, kerberos.KerberosAuth) and all(c.complete for c in auth.contexts.values())
    if scheme == "http":  # sealed as MS-WSMV says, the lab refuses anything else over HTTP
        assert encryption is not None and encryption.protocol == "kerberos"
    else:
        assert encryption is None


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_collector_runs_over_kerberos(kerberos_lab: Lab, scheme: str) -> None:
    settings, dialer = _settings(kerberos_lab, ansible_winrm_scheme=scheme)
    output = run_collector(settings, dialer, collector_command(CollectorParameters()))
    assert output.exit_code == 0 and "#CASCONF BEGIN" in output.stdout


def test_wrong_password_is_an_error_per_host_with_the_reason(kerberos_lab: Lab) -> None:
    inventory = parse_inventory(kerberos_lab.inventory_text(), str(kerberos_lab.workdir / "lab.ini"))
    world = gather(
        plan_run(inventory, password=Secret("not-" + kerberos_lab.password)), GatherOptions(environ={})
    )
    assert world.servers
    for record in world.servers.values():
        assert record.facts is None and record.error is not None
        assert "Kerberos authentication of labadmin@CONTOSO.LAB failed: wrong password" in record.error.reason
        assert kerberos_lab.password not in record.error.reason
    assert any(v.outcome == "error" for v in evaluate(world))


def test_a_server_without_the_service_key_answers_401(kerberos_lab: Lab) -> None:
    settings, dialer = _settings(kerberos_lab, ansible_winrm_kerberos_hostname_override="nowhere.contoso.lab")
    with pytest.raises(CollectionError) as caught:
        run_collector(settings, dialer, collector_command())
    assert "service principal" in caught.value.reason or "not found" in caught.value.reason


def test_missing_libraries_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gssapi", None)
    with pytest.raises(kerberos.KerberosClientError) as caught:
        kerberos.require_libraries()
    assert ".[kerberos]" in str(caught.value) and "libkrb5-dev" in str(caught.value)


def test_configure_puts_inventory_files_before_the_system_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRB5_CONFIG", raising=False)
    monkeypatch.setattr(kerberos, "_state", {})
    monkeypatch.setattr(kerberos, "_realms", {})
    monkeypatch.setattr(kerberos, "_files", [])
    assert kerberos.configure([Krb5Config()]) is None and "KRB5_CONFIG" not in os.environ
    first = tmp_path / "a.conf"
    value = kerberos.configure([Krb5Config(config=str(first), realm="EXAMPLE.COM", kdcs=("dc1:88",))])
    assert value is not None and os.environ["KRB5_CONFIG"] == value
    private, given, system = value.split(":")
    assert (given, system) == (str(first), "/etc/krb5.conf")
    assert "EXAMPLE.COM = {\n        kdc = dc1:88\n    }" in Path(private).read_text()
    second = tmp_path / "b.conf"
    value = kerberos.configure([dataclasses.replace(Krb5Config(), config=str(second))])
    assert value.split(":")[1:] == [str(second), str(first), "/etc/krb5.conf"]


def test_suite_over_kerberos_passes_against_the_healthy_lab(kerberos_ready: None, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--inventory",
            str(ROOT / "fixtures/lab/kerberos.ini"),
            "-q",
            "-p",
            "no:xdist",
            "--reports-dir",
            str(tmp_path),
            "--html",
            str(tmp_path / "report.html"),
            "--junitxml",
            str(tmp_path / "junit.xml"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " 0 failed, 0 error" in result.stdout
    assert (tmp_path / "results.json").is_file()


def test_saved_facts_replay_without_the_lab_krb5_conf(kerberos_lab: Lab, tmp_path: Path) -> None:
    inventory = parse_inventory(kerberos_lab.inventory_text(), str(kerberos_lab.workdir / "lab.ini"))
    world = gather(plan_run(inventory, password=Secret(kerberos_lab.password)), GatherOptions(environ={}))
    assert all(record.facts is not None for record in world.servers.values())
    save_world(world, tmp_path / "facts.json")
    data = json.loads((tmp_path / "facts.json").read_text())
    assert "kerberos_config" not in json.dumps(data["inventory"])  # a file of the gathering run
    replayed = load_world(tmp_path / "facts.json")
    assert set(replayed.servers) == set(world.servers)
    assert all(record.settings.transport == "kerberos" for record in replayed.servers.values())


def test_ansible_host_ip_keeps_the_inventory_name_in_the_spn(kerberos_lab: Lab) -> None:
    address = kerberos_lab.address_of("cas01")
    settings, dialer = _settings(kerberos_lab, ansible_winrm_scheme="http")  # the certificate names no IP
    by_ip = dataclasses.replace(settings, address=address)
    protocol = _protocol(by_ip, dialer)
    assert protocol.transport.kerberos_hostname_override == HOST
    assert _protocol(settings, dialer).transport.kerberos_hostname_override is None
    output = run_collector(by_ip, dialer, collector_command(CollectorParameters()))
    assert output.exit_code == 0


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("winrm-wrong-credentials", "the server refused the Kerberos ticket"),
        ("winrm-http-500", "WinRM answered HTTP 500"),
    ],
)
def test_host_faults_over_kerberos_error_that_host_only(
    kerberos_ready: None, fault: str, expected: str
) -> None:
    lab = start_lab(HEALTHY, faults=[f"{fault}@cas02"], kerberos=True)
    try:
        inventory = parse_inventory(
            lab.inventory_text() + "winrm_timeout = 10\n", str(lab.workdir / "lab.ini")
        )
        world = gather(plan_run(inventory, password=Secret(lab.password)), GatherOptions(environ=lab.environ))
    finally:
        lab.stop()
    record = world.servers["cas02.contoso.lab"]
    assert record.error is not None and expected in record.error.reason, record.error
    assert all(r.facts is not None for name, r in world.servers.items() if name != "cas02.contoso.lab")


def test_a_new_connection_is_authenticated_again(kerberos_lab: Lab) -> None:
    settings, dialer = _settings(kerberos_lab)  # HTTPS: nothing sealed with the first connection's key
    protocol = _protocol(settings, dialer)
    shell = protocol.open_shell()
    auth = protocol.transport.session.auth
    first = auth.contexts[HOST]
    protocol.transport.session.close()  # drops the pooled, authenticated connection
    command = protocol.run_command(shell, "hostname", [])
    _out, _err, code = protocol.get_command_output(shell, command)
    protocol.close_shell(shell)
    assert code == 1 and auth.contexts[HOST] is not first and auth.contexts[HOST].complete


def test_manual_kinit_mode_uses_the_users_own_ticket(
    kerberos_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert kerberos_lab.kdc is not None
    ccache = tmp_path / "ccache"
    settings, dialer = _settings(kerberos_lab, ansible_winrm_kinit_mode="manual")
    settings = dataclasses.replace(settings, password=None)  # no password anywhere
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    with pytest.raises(CollectionError) as caught:  # no ticket yet
        run_collector(settings, dialer, collector_command(CollectorParameters()))
    assert "Kerberos authentication of labadmin@CONTOSO.LAB" in caught.value.reason
    assert kerberos_lab.kdc.kinit("labadmin", kerberos_lab.password, ccache).returncode == 0
    output = run_collector(settings, dialer, collector_command(CollectorParameters()))
    assert output.exit_code == 0 and "#CASCONF BEGIN" in output.stdout


def test_managed_mode_leaves_the_default_ccache_alone(
    kerberos_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ccache = tmp_path / "default-ccache"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    settings, dialer = _settings(kerberos_lab)
    assert run_collector(settings, dialer, collector_command(CollectorParameters())).exit_code == 0
    assert not ccache.exists()


def test_an_unreachable_kdc_is_named(
    kerberos_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, empty in (("_state", {}), ("_realms", {}), ("_files", [])):  # this run's configuration only
        monkeypatch.setattr(kerberos, name, empty)
    monkeypatch.setenv("KRB5_CONFIG", os.environ.get("KRB5_CONFIG", ""))  # put back afterwards
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    conf = tmp_path / "krb5.conf"
    conf.write_text(
        "[libdefaults]\n    default_realm = UNREACHABLE.LAB\n    dns_lookup_kdc = false\n"
        "    dns_canonicalize_hostname = false\n    rdns = false\n    udp_preference_limit = 1\n"
        f"[realms]\n    UNREACHABLE.LAB = {{\n        kdc = tcp/127.0.0.1:{closed.getsockname()[1]}\n    }}\n"
    )
    settings, dialer = _settings(kerberos_lab)
    settings = dataclasses.replace(
        settings, user="labadmin@UNREACHABLE.LAB", kerberos=WinrmKerberos(krb5=Krb5Config(config=str(conf)))
    )
    try:
        with pytest.raises(CollectionError) as caught:
            run_collector(settings, dialer, collector_command())
    finally:
        closed.close()
    assert "no KDC of the realm could be reached" in caught.value.reason, caught.value.reason


def test_exchange_remote_powershell_over_kerberos(kerberos_lab: Lab) -> None:
    """The lab's /PowerShell takes a Kerberos ticket for HTTP/<fqdn> (pypsrp's Negotiate), and the
    session reads the organisation; a wrong password gets no ticket and no session."""
    inventory = parse_inventory(kerberos_lab.inventory_text(), str(kerberos_lab.workdir / "lab.ini"))
    assert "exchange_powershell_auth = kerberos" in kerberos_lab.inventory_text()
    world = gather(plan_run(inventory, password=Secret(kerberos_lab.password)), GatherOptions(environ={}))
    assert world.exchange.via == "cas01.contoso.lab" and not world.exchange.errors
    assert {s.name for s in world.exchange.servers} == {"CAS01", "CAS02", "MBX01", "EX01"}
    wrong = gather(
        plan_run(inventory, password=Secret("not-" + kerberos_lab.password)), GatherOptions(environ={})
    )
    assert wrong.exchange.via == "" and wrong.exchange.attempts

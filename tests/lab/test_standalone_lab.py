"""The standalone lab (``python -m cas_conformance.lab serve``) as an administrator uses it: real
pywinrm, dnspython and openssl clients reach it, and the suite run through its written inventory
gives the same outcome as the embedded start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest
import requests
import winrm

from cas_conformance.channels.connect_to import apply_connect_to
from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.psrp import Cmdlet, ExchangeSession, PsrpTarget
from cas_conformance.inventory import load_inventory
from cas_conformance.lab.process import LabProcess
from cas_conformance.settings import Secret
from cas_conformance.settings.connect_to import parse_connect_to
from tests.junit import junit_outcomes

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Standalone-Test-Pw1"


class Served:
    def __init__(self, process: subprocess.Popen[str], inventory: Path, lines: list[str]) -> None:
        self.process = process
        self.inventory = inventory
        self.lines = lines
        vars_ = load_inventory(inventory).all_vars
        dns_ip, _, dns_port = vars_["dns_servers"].rpartition(":")
        self.dns = (dns_ip, int(dns_port))
        self.rules = parse_connect_to(vars_["connect_to"])
        self.psrp_calls: dict[str, int] = {}  # what the tests asked of Exchange remote PowerShell

    def resolve(self, name: str) -> str:
        answer = dns.query.udp(dns.message.make_query(name, "A"), self.dns[0], port=self.dns[1], timeout=5)
        return str(answer.answer[0][0])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("standalone")
    stats = tmp / "stats.json"
    lab = LabProcess(
        ROOT / "fixtures/lab/healthy.toml",
        tmp / "lab.ini",
        cwd=ROOT,
        start_timeout=60,
        args=["--password", PASSWORD, "--stats-out", str(stats)],
    )
    with lab:
        assert lab.process is not None
        state = Served(lab.process, lab.inventory, lab.lines)
        yield state
    assert lab.stop() == 0, "".join(lab.lines)
    written = json.loads(stats.read_text())
    assert set(written) == {
        "winrm_commands",
        "winrm_command_line_chars",
        "winrm_stdin_bytes",
        "dns_queries",
        "tls_handshakes",
        "psrp_cmdlets",
    }
    # a suite run through the written inventory reads Exchange through CAS01; the test, through EX01
    assert {k: v for k, v in written["psrp_cmdlets"].items() if k.startswith("EX01 ")} == state.psrp_calls


def test_written_inventory_never_holds_the_password(served: Served) -> None:
    assert PASSWORD not in served.inventory.read_text()
    assert PASSWORD not in "".join(served.lines)


def test_dnspython_gets_answers(served: Served) -> None:
    assert served.resolve("mail.contoso.lab").startswith("127.")
    answer = dns.query.tcp(
        dns.message.make_query("contoso.lab", "MX"), served.dns[0], port=served.dns[1], timeout=5
    )
    assert "smtp.contoso.lab" in answer.to_text()


def _stock_pywinrm(served: Served, scheme: str) -> winrm.Protocol:
    ip = served.resolve("cas01.contoso.lab")
    _, port = apply_connect_to(served.rules, "cas01.contoso.lab", 5986 if scheme == "https" else 5985)
    # plain HTTP has no certificate to check; saying so keeps pywinrm off REQUESTS_CA_BUNDLE
    options = {"server_cert_validation": "ignore"}
    if scheme == "http":
        options["message_encryption"] = "always"
    url = f"{scheme}://{ip}:{port}/wsman"
    return winrm.Protocol(url, transport="ntlm", username="CONTOSO\\labadmin", password=PASSWORD, **options)


def test_pywinrm_completes_a_shell_lifecycle(served: Served) -> None:
    # over HTTP with NTLM message encryption: the HTTPS listener speaks TLS 1.0 only (below)
    protocol = _stock_pywinrm(served, "http")
    shell = protocol.open_shell()
    command = protocol.run_command(shell, "ipconfig", ["/all"])
    stdout, stderr, code = protocol.get_command_output(shell, command)
    protocol.cleanup_command(shell, command)
    protocol.close_shell(shell)
    assert code == 1 and b"is not recognized" in stderr and stdout == b""


def test_stock_pywinrm_cannot_reach_the_tls_1_0_https_listener(served: Served) -> None:
    """As against Windows Server 2008 R2 as shipped: urllib3 2.x insists on TLS 1.2."""
    protocol = _stock_pywinrm(served, "https")
    with pytest.raises(requests.exceptions.SSLError):
        protocol.open_shell()


def test_stats_out_counts_one_request_per_cmdlet_call(served: Served) -> None:
    vars_ = load_inventory(served.inventory).all_vars
    ip = served.resolve("ex01.contoso.lab")
    _, port = apply_connect_to(served.rules, "ex01.contoso.lab", 443)
    target = PsrpTarget(
        "ex01.contoso.lab", "CONTOSO\\labadmin", Secret(PASSWORD), ca_trust_path=vars_["tls_ca_bundle"]
    )
    with ExchangeSession(
        target, Dialer(None, parse_connect_to(f"ex01.contoso.lab:443:{ip}:{port}"))
    ) as session:
        session.run_all([Cmdlet("Get-ExchangeServer"), Cmdlet("Get-MailboxDatabase")])
        for server in ("CAS01", "CAS02", "EX01"):
            session.run(Cmdlet("Get-OwaVirtualDirectory", {"Server": server, "ADPropertiesOnly": True}))
    served.psrp_calls = {
        "EX01 Get-ExchangeServer": 1,
        "EX01 Get-MailboxDatabase": 1,
        **{f"EX01 Get-OwaVirtualDirectory -Server {x}": 1 for x in ("CAS01", "CAS02", "EX01")},
    }


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_gets_the_certificate_chain(served: Served) -> None:
    ip = served.resolve("mail.contoso.lab")
    _, port = apply_connect_to(served.rules, "mail.contoso.lab", 443)
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{ip}:{port}", "-servername", "mail.contoso.lab", "-showcerts"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert out.count("-----BEGIN CERTIFICATE-----") == 2
    assert "Contoso Lab Issuing CA" in out


def test_suite_through_written_inventory_matches_embedded(served: Served, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CAS_CONFORMANCE_PASSWORD": PASSWORD,
        "CAS_CONFORMANCE_PROBE_USER": "labprobe@contoso.lab",
        "CAS_CONFORMANCE_PROBE_PASSWORD": PASSWORD,
    }
    common = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(ROOT / "tests_cas")]
    standalone = subprocess.run(
        [
            *common,
            "--inventory",
            str(served.inventory),
            f"--junitxml={tmp_path / 's.xml'}",
            f"--html={tmp_path / 's.html'}",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert standalone.returncode == 0, standalone.stdout[-3000:]
    embedded = subprocess.run(
        [
            *common,
            "--inventory",
            str(ROOT / "inventory.ini"),
            f"--junitxml={tmp_path / 'e.xml'}",
            f"--html={tmp_path / 'e.html'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert embedded.returncode == 0, embedded.stdout[-3000:]
    assert junit_outcomes(tmp_path / "s.xml") == junit_outcomes(tmp_path / "e.xml")

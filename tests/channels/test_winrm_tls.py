"""The WinRM channel against listeners that speak TLS as Windows Server 2008 R2 does.

As shipped, 2008 R2 offers TLS 1.0 only (TLS 1.2 is disabled in Schannel) and urllib3 2.x's
default minimum is TLS 1.2: collection must still succeed there, with a warning naming the server.
Each way a handshake fails (untrusted chain, name mismatch, expired certificate, no common
protocol version) gets its own message naming what fixes it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cas_conformance.channels import tls_client
from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.winrm import run_collector
from cas_conformance.errors import CollectionError
from cas_conformance.evidence.os import winrm_target
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab import (
    CommandRequest,
    CommandResult,
    IssuedCert,
    WinRMServer,
    offer_tls_up_to,
    self_signed,
)
from cas_conformance.settings import HostSettings, Secret, host_settings
from cas_conformance.settings.connect_to import parse_connect_to

# Any command line: the test listeners answer every command alike.
_COMMAND = ("powershell.exe", ("-NoProfile", "-Command", "Write-Output 1"))

NAME = "cas01.contoso.lab"
OTHER_NAME = "cas02.contoso.lab"
ADDRESS = "127.0.78.10"
USER = "labadmin"
PASSWORD = "Tls-Winrm-Pw1"
NOW = dt.datetime.now(dt.timezone.utc)


def _answer(request: CommandRequest) -> CommandResult:
    return CommandResult(f"collected on {request.host}\r\n", "", 0)


def _cert(*, expired: bool = False) -> IssuedCert:
    if expired:
        return self_signed(
            [NAME], not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=2)
        )
    return self_signed([NAME], not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=30))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[IssuedCert, Path]]:
    """name -> (certificate, a bundle trusting it): good, expired, and a stranger's."""
    folder = tmp_path_factory.mktemp("winrm-tls")
    out = {}
    for label, cert in (("good", _cert()), ("expired", _cert(expired=True)), ("stranger", _cert())):
        bundle = folder / f"{label}.pem"
        bundle.write_bytes(cert.chain_pem())
        out[label] = (cert, bundle)
    return out


Listener = Callable[[str, str], WinRMServer]


@pytest.fixture
def listener(certs: dict[str, tuple[IssuedCert, Path]]) -> Iterator[Listener]:
    """Start a WinRM HTTPS listener with certificate *label* offering TLS 1.0 up to *newest*."""
    started: list[WinRMServer] = []

    def start(label: str, newest: str) -> WinRMServer:
        cert = certs[label][0]
        server = WinRMServer(
            [ADDRESS], _answer, {USER: PASSWORD}, tls_context=offer_tls_up_to(cert.ssl_context(), newest)
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _settings(server: WinRMServer, bundle: Path, *, host: str = NAME) -> HostSettings:
    text = (
        f"{NAME} ansible_host={host} ansible_port={server.port} ansible_user={USER} "
        f"ansible_winrm_transport=ntlm ansible_winrm_ca_trust_path={bundle} winrm_timeout=20\n"
    )
    inventory = parse_inventory(text, "tls.ini")
    return host_settings(inventory, inventory.hosts[NAME], password=Secret(PASSWORD))


def _dialer(server: WinRMServer, host: str = NAME) -> Dialer:
    return Dialer(None, parse_connect_to(f"{host}:{server.port}:{ADDRESS}:{server.port}"))


def _collect(settings: HostSettings, server: WinRMServer, host: str = NAME) -> tuple[str, list[str]]:
    warned: list[str] = []
    output = run_collector(winrm_target(settings), _dialer(server, host), _COMMAND, warn=warned.append)
    assert output.exit_code == 0
    return output.stdout, warned


def test_a_tls_1_0_only_listener_is_collected_with_a_warning_naming_the_server(
    listener: Listener, certs: dict[str, tuple[IssuedCert, Path]]
) -> None:
    server = listener("good", "1.0")
    stdout, warned = _collect(_settings(server, certs["good"][1]), server)
    assert stdout == f"collected on {NAME}\r\n"
    assert len(warned) == 1
    assert warned[0].startswith(f"{NAME}: WinRM https://{NAME}:{server.port}/wsman spoke TLSv1 only")
    assert "enable TLS 1.2 on the server" in warned[0]


def test_a_tls_1_1_listener_warns_too(listener: Listener, certs: dict[str, tuple[IssuedCert, Path]]) -> None:
    server = listener("good", "1.1")
    _, warned = _collect(_settings(server, certs["good"][1]), server)
    assert len(warned) == 1 and "spoke TLSv1.1 only" in warned[0]


def test_a_tls_1_2_listener_gives_no_warning(
    listener: Listener, certs: dict[str, tuple[IssuedCert, Path]]
) -> None:
    server = listener("good", "1.2")
    stdout, warned = _collect(_settings(server, certs["good"][1]), server)
    assert stdout == f"collected on {NAME}\r\n" and warned == []


def test_a_client_with_urllib3s_default_minimum_fails_there_saying_protocol_version(
    listener: Listener, certs: dict[str, tuple[IssuedCert, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old client (TLS 1.2 at least, urllib3 2.x's default) cannot reach a TLS 1.0 listener:
    proves the success above is the channel's own doing, and the failure names its cause."""
    monkeypatch.setattr(tls_client, "MINIMUM_VERSION", ssl.TLSVersion.TLSv1_2)
    server = listener("good", "1.0")
    with pytest.raises(CollectionError) as caught:
        _collect(_settings(server, certs["good"][1]), server)
    reason = caught.value.reason
    assert "TLS protocol version" in reason and "this client accepts TLS 1.2 to 1.3" in reason
    assert "enable TLS 1.2 on the server" in reason
    assert "not trusted" not in reason


def test_an_untrusted_chain_names_the_trust_variable(
    listener: Listener, certs: dict[str, tuple[IssuedCert, Path]]
) -> None:
    server = listener("good", "1.0")
    with pytest.raises(CollectionError) as caught:
        _collect(_settings(server, certs["stranger"][1]), server)
    reason = caught.value.reason
    assert (
        f"TLS certificate of {NAME} not trusted: add its issuing CA to ansible_winrm_ca_trust_path" in reason
    )
    assert "ansible_winrm_server_cert_validation=ignore" in reason


def test_a_name_mismatch_names_ansible_host_and_the_certificate(
    listener: Listener, certs: dict[str, tuple[IssuedCert, Path]]
) -> None:
    server = listener("good", "1.0")
    settings = _settings(server, certs["good"][1], host=OTHER_NAME)
    with pytest.raises(CollectionError) as caught:
        _collect(settings, server, OTHER_NAME)
    reason = caught.value.reason
    assert f"TLS name mismatch: the certificate of {OTHER_NAME} (WinRM) does not name {OTHER_NAME}" in reason
    assert "ansible_host" in reason and "certificate's names" in reason
    assert "not trusted" not in reason


def test_an_expired_certificate_says_expired(
    listener: Listener, certs: dict[str, tuple[IssuedCert, Path]]
) -> None:
    server = listener("expired", "1.0")
    with pytest.raises(CollectionError) as caught:
        _collect(_settings(server, certs["expired"][1]), server)
    reason = caught.value.reason
    assert f"TLS certificate of {NAME} has expired" in reason and "not trusted" not in reason


def test_ignoring_validation_still_speaks_tls_1_0(
    listener: Listener, certs: dict[str, tuple[IssuedCert, Path]]
) -> None:
    server = listener("good", "1.0")
    settings = dataclasses.replace(_settings(server, certs["stranger"][1]), cert_validation=False)
    stdout, warned = _collect(settings, server)
    assert stdout == f"collected on {NAME}\r\n" and len(warned) == 1


@pytest.mark.parametrize(
    ("openssl_text", "expected"),
    [
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate is not yet valid (_ssl.c:1006)",
            "is not yet valid: check the clocks",
        ),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain",
            "not trusted: add its issuing CA to ansible_winrm_ca_trust_path",
        ),
        (
            "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1006)",
            "TLS protocol version:",
        ),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "TLS protocol version:"),
        (
            "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure",
            "TLS handshake with cas01 failed: ",
        ),
    ],
)
def test_each_openssl_reason_gets_its_message(openssl_text: str, expected: str) -> None:
    assert expected in tls_client.describe_failure("cas01", openssl_text, service="WinRM")

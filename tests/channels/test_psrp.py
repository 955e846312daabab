"""The PSRP channel against a lab endpoint that speaks as an unhardened Windows Server 2008 R2 does:
TLS 1.0 only. Collection succeeds and warns, naming the server; a client that insists on TLS 1.2
would fail there (urllib3 2.x's default minimum)."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import warnings
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.psrp import Cmdlet, ExchangeSession, PsrpTarget
from cas_conformance.errors import CasConformanceWarning
from cas_conformance.lab import HttpResponse, HttpsServer, exchange_powershell, load_scenario, self_signed
from cas_conformance.settings import Secret
from cas_conformance.settings.connect_to import parse_connect_to
from tests.lab.conftest import HEALTHY

ADDRESS = "127.0.77.10"
NAME = "cas01.contoso.lab"
PASSWORD = "Tls10-Test-Pw"


@pytest.fixture(scope="module")
def tls10_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpsServer, str]]:
    scenario = load_scenario(HEALTHY)
    now = dt.datetime.now(dt.timezone.utc)
    issued = self_signed([NAME], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    directory = exchange_powershell(
        scenario,
        {"cas01": ADDRESS},
        {"CONTOSO\\labadmin": PASSWORD},
        lambda server: (issued.cert.public_bytes(Encoding.DER), "Valid"),
        now,
        threading.Event(),
    )
    bundle = tmp_path_factory.mktemp("tls10") / "ca.pem"
    bundle.write_bytes(issued.chain_pem())
    site = issued.ssl_context()
    site.set_ciphers("DEFAULT:@SECLEVEL=0")  # TLS 1.0 signs with MD5+SHA-1, below OpenSSL's default level
    server = HttpsServer([ADDRESS], {NAME: site}, directory.route(_nothing, tls=True), default_site=NAME)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # Schannel on 2008 R2 as shipped: TLS 1.0 and nothing newer
        server._base.minimum_version = ssl.TLSVersion.TLSv1
        server._base.maximum_version = ssl.TLSVersion.TLSv1
    with server:
        yield server, str(bundle)


def _nothing(request: object) -> HttpResponse:
    return HttpResponse(404)


def test_tls_1_0_only_server_collects_and_warns(tls10_endpoint: tuple[HttpsServer, str]) -> None:
    server, bundle = tls10_endpoint
    target = PsrpTarget(NAME, "CONTOSO\\labadmin", Secret(PASSWORD), ca_trust_path=bundle)
    dialer = Dialer(None, parse_connect_to(f"{NAME}:443:{ADDRESS}:{server.port}"))
    with pytest.warns(CasConformanceWarning, match=r"cas01.contoso.lab: .* spoke TLSv1 only"):
        session = ExchangeSession(target, dialer)
        session.open()
    try:
        assert {o["Name"] for o in session.run(Cmdlet("Get-ExchangeServer"))} == {
            "CAS01",
            "CAS02",
            "MBX01",
            "EX01",
        }
        assert session.tls_versions.versions == {"TLSv1"}
    finally:
        session.close()


def test_a_tls_1_2_minimum_client_fails_there(tls10_endpoint: tuple[HttpsServer, str]) -> None:
    """Proves the server above really offers only TLS 1.0 (the channel's success is its own doing)."""
    server, _bundle = tls10_endpoint
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(f"https://{ADDRESS}:{server.port}/PowerShell", verify=False, timeout=10)

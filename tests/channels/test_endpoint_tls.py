"""The endpoint probes reach an IIS that speaks TLS 1.0 only (Windows Server 2008 R2 as shipped):
the unauthenticated probes and the authenticated Autodiscover probe (chain and name verified)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import requests

from cas_conformance.channels.dialer import Dialer
from cas_conformance.evidence.http_probes import IdentityAdapter, UnverifiedAdapter
from cas_conformance.lab import HttpRequest, HttpResponse, HttpsServer, offer_tls_up_to, self_signed
from cas_conformance.settings.connect_to import parse_connect_to

ADDRESS = "127.0.78.20"
NAME = "mail.contoso.lab"


def _hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, body=b"hello")


@pytest.fixture(scope="module")
def tls10_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpsServer, str]]:
    now = dt.datetime.now(dt.timezone.utc)
    issued = self_signed([NAME], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    bundle = tmp_path_factory.mktemp("tls10-iis") / "ca.pem"
    bundle.write_bytes(issued.chain_pem())
    site = offer_tls_up_to(issued.ssl_context(), "1.0")
    server = HttpsServer([ADDRESS], {NAME: site}, _hello, default_site=NAME)
    offer_tls_up_to(
        server._base, "1.0"
    )  # the handshake's versions are the base context's (SNI switches later)
    with server:
        yield server, str(bundle)


def _get(
    adapter_class: type[UnverifiedAdapter | IdentityAdapter], server: HttpsServer, verify: bool | str
) -> int:
    session = requests.Session()
    session.trust_env = False
    session.mount(
        "https://", adapter_class(Dialer(None, parse_connect_to(f"{NAME}:443:{ADDRESS}:{server.port}")))
    )
    session.verify = verify
    with session:
        return session.get(f"https://{NAME}/owa/", timeout=10).status_code


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_the_unauthenticated_probe_speaks_tls_1_0(tls10_site: tuple[HttpsServer, str]) -> None:
    server, _ = tls10_site
    assert _get(UnverifiedAdapter, server, False) == 200


def test_the_authenticated_probe_speaks_tls_1_0_and_still_verifies(
    tls10_site: tuple[HttpsServer, str],
) -> None:
    server, bundle = tls10_site
    assert _get(IdentityAdapter, server, bundle) == 200
    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        _get(IdentityAdapter, server, True)  # the system store does not trust the lab's certificate

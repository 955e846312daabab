"""The lab HTTP(S) servers: SNI routing, many addresses on one port, keep-alive, errors surfaced."""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from cas_conformance.errors import LabError
from cas_conformance.lab.pki import IssuedCert, KeyType, Pki, generate_key
from cas_conformance.lab.servers.http import HttpRequest, HttpResponse, HttpServer, HttpsServer
from cas_conformance.lab.servers.listener import STOP_BUDGET

NOW = dt.datetime.now(dt.timezone.utc)
ADDRESSES = ["127.0.0.1", "127.0.0.2"]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.generate(
        "Contoso", ocsp_url="http://pki.contoso.lab/ocsp", crl_base_url="http://pki.contoso.lab/crl"
    )


@pytest.fixture(scope="module")
def leaves(pki: Pki) -> dict[str, IssuedCert]:
    key = generate_key(KeyType.RSA2048)
    assert isinstance(key, rsa.RSAPrivateKey)
    names = ("mail.contoso.lab", "autodiscover.contoso.lab")
    return {
        name: pki.issue(
            [name], not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=30), key=key
        )
        for name in names
    }


class Recorder:
    """A handler that answers with what it saw and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.lock = threading.Lock()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with self.lock:
            self.requests.append(request)
        if request.path == "/boom":
            raise RuntimeError("handler exploded")
        body = f"{request.method} {request.host} {request.sni} {request.local_address}".encode()
        return HttpResponse(200, [("Content-Type", "text/plain"), ("X-Lab", "yes")], body)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def https(pki: Pki, leaves: dict[str, IssuedCert], recorder: Recorder) -> Iterator[HttpsServer]:
    sites = {name: issued.ssl_context() for name, issued in leaves.items()}
    with HttpsServer(ADDRESSES, sites, recorder) as server:
        yield server


def _client_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pki.root_pem().decode())
    return context


def _tls(address: str, port: int, sni: str, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection((address, port), timeout=5)
    return context.wrap_socket(raw, server_hostname=sni)


def _exchange(sock: socket.socket, request: bytes) -> http.client.HTTPResponse:
    sock.sendall(request)
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response


def _get(path: str, host: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def test_sni_picks_the_certificate_on_every_address_of_one_port(
    pki: Pki, leaves: dict[str, IssuedCert], https: HttpsServer
) -> None:
    context = _client_context(pki)  # verifies chain and name: only the right leaf passes
    for address in ADDRESSES:
        for name, issued in leaves.items():
            with _tls(address, https.port, name, context) as sock:
                peer = sock.getpeercert(binary_form=True)
                assert peer is not None
                assert x509.load_der_x509_certificate(peer) == issued.cert
                body = _exchange(sock, _get("/", f"{name.upper()}:443")).read().decode()
            assert body == f"GET {name} {name} {address}"
    assert https.stats == {f"mail.contoso.lab:{https.port}": 2, f"autodiscover.contoso.lab:{https.port}": 2}


def test_sni_is_case_insensitive(pki: Pki, leaves: dict[str, IssuedCert], https: HttpsServer) -> None:
    context = _client_context(pki)
    context.check_hostname = False
    with _tls("127.0.0.1", https.port, "MAIL.Contoso.LAB", context) as sock:
        peer = sock.getpeercert(binary_form=True)
    assert peer is not None and x509.load_der_x509_certificate(peer) == leaves["mail.contoso.lab"].cert


def test_unknown_name_fails_the_handshake_without_a_default_site(pki: Pki, https: HttpsServer) -> None:
    with pytest.raises(ssl.SSLError, match=r"UNRECOGNIZED_NAME|unrecognized name"):
        _tls("127.0.0.1", https.port, "other.contoso.lab", _client_context(pki))
    assert sum(https.stats.values()) == 0


def test_unknown_name_gets_the_default_site(
    pki: Pki, leaves: dict[str, IssuedCert], recorder: Recorder
) -> None:
    sites = {name: issued.ssl_context() for name, issued in leaves.items()}
    context = _client_context(pki)
    context.check_hostname = False
    with HttpsServer(["127.0.0.1"], sites, recorder, default_site="Mail.contoso.lab") as server:
        with _tls("127.0.0.1", server.port, "other.contoso.lab", context) as sock:
            peer = sock.getpeercert(binary_form=True)
            _exchange(sock, _get("/", "other.contoso.lab")).read()
        assert server.stats == {f"other.contoso.lab:{server.port}": 1}
    assert peer is not None and x509.load_der_x509_certificate(peer) == leaves["mail.contoso.lab"].cert
    assert recorder.requests[0].sni == "other.contoso.lab"


def test_default_site_must_be_one_of_the_sites(leaves: dict[str, IssuedCert], recorder: Recorder) -> None:
    with pytest.raises(LabError, match="default_site"):
        HttpsServer(
            ["127.0.0.1"],
            {"mail.contoso.lab": leaves["mail.contoso.lab"].ssl_context()},
            recorder,
            default_site="owa.contoso.lab",
        )


def test_keep_alive_serves_many_requests_after_one_handshake(
    pki: Pki, https: HttpsServer, recorder: Recorder
) -> None:
    with _tls("127.0.0.2", https.port, "mail.contoso.lab", _client_context(pki)) as sock:
        for _ in range(3):
            assert _exchange(sock, _get("/owa", "mail.contoso.lab")).read().startswith(b"GET")
    assert https.stats[f"mail.contoso.lab:{https.port}"] == 1
    assert len(recorder.requests) == 3


def test_the_handler_sees_method_headers_and_body(pki: Pki, https: HttpsServer, recorder: Recorder) -> None:
    request = (
        b"RPC_IN_DATA /rpc/rpcproxy.dll?ex01:6001 HTTP/1.1\r\nHost: [::1]:8443\r\nX-Custom: One\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    with _tls("127.0.0.2", https.port, "mail.contoso.lab", _client_context(pki)) as sock:
        response = _exchange(sock, request)
        assert response.status == 200 and response.getheader("X-Lab") == "yes"
        response.read()
        chunked = b"POST /ews HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunked += b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        _exchange(sock, chunked).read()
    first, second = recorder.requests
    assert (first.method, first.path, first.host, first.body) == (
        "RPC_IN_DATA",
        "/rpc/rpcproxy.dll?ex01:6001",
        "::1",
        b"hello",
    )
    assert first.headers["x-custom"] == "One" and first.local_address == "127.0.0.2"
    assert (second.method, second.body, second.sni) == ("POST", b"abcde", "mail.contoso.lab")


def test_a_failing_handler_gives_500_and_check_reraises_once(pki: Pki, https: HttpsServer) -> None:
    with _tls("127.0.0.1", https.port, "mail.contoso.lab", _client_context(pki)) as sock:
        assert _exchange(sock, _get("/boom", "mail.contoso.lab")).status == 500
    with pytest.raises(LabError, match="handler exploded"):
        https.check()
    https.check()


def test_stop_reraises_a_recorded_error(recorder: Recorder) -> None:
    server = HttpServer(["127.0.0.1"], recorder)
    with pytest.raises(LabError, match="handler exploded"), server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/boom")
        assert conn.getresponse().status == 500
        conn.close()


def test_stop_is_prompt_with_an_idle_keep_alive_connection(pki: Pki, leaves: dict[str, IssuedCert]) -> None:
    sites = {"mail.contoso.lab": leaves["mail.contoso.lab"].ssl_context()}
    server = HttpsServer(["127.0.0.1"], sites, Recorder())
    server.start()
    sock = _tls("127.0.0.1", server.port, "mail.contoso.lab", _client_context(pki))
    _exchange(sock, _get("/", "mail.contoso.lab")).read()
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < STOP_BUDGET / 2  # prompt: not the budget for a busy thread
    assert sock.recv(1) == b""  # the server closed our idle connection
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_plain_http_server_on_two_addresses(recorder: Recorder) -> None:
    with HttpServer(ADDRESSES, recorder) as server:
        for address in ADDRESSES:
            conn = http.client.HTTPConnection(address, server.port, timeout=5)
            conn.request("GET", "/crl/root.crl", headers={"Host": "pki.contoso.lab"})
            assert conn.getresponse().read() == f"GET pki.contoso.lab None {address}".encode()
            conn.request("HEAD", "/")
            head = conn.getresponse()
            assert head.getheader("Content-Length") == str(len(f"HEAD {address} None {address}"))
            assert head.read() == b""
            conn.close()


def test_servers_bind_loopback_only_and_report_their_port_after_start(recorder: Recorder) -> None:
    with pytest.raises(LabError, match="loopback"):
        HttpServer(["192.0.2.10"], recorder)
    server = HttpServer(["127.0.0.1"], recorder)
    with pytest.raises(LabError, match="not started"):
        _ = server.port
    with server:
        assert server.port > 0

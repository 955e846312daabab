"""The dialer: connect_to rules and lab DNS in front of real TCP and TLS connections."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.errors import CollectionError
from cas_conformance.lab import DnsServer, Zone
from cas_conformance.settings.connect_to import parse_connect_to

DNS_ADDRESS = "127.0.53.21"
WEB_ADDRESS = "127.0.60.1"


# -- helpers shared with the HTTP and SMTP tests ------------------------------------------------------
def make_self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A throwaway self-signed server certificate for *name*: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path, seen_sni: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if seen_sni is not None:

        def remember(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
            seen_sni.append(name or "")

        context.sni_callback = remember
    return context


class RecordingServer(ThreadingHTTPServer):
    """HTTP/1.1 test peer that records Host headers and counts TCP connections."""

    daemon_threads = True

    def __init__(
        self, address: str, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None
    ) -> None:
        self.tls = tls
        self.hosts: list[str] = []
        self.connections = 0
        super().__init__((address, 0), handler)

    def get_request(self) -> tuple[socket.socket, object]:
        conn, peer = self.socket.accept()
        self.connections += 1
        if self.tls is not None:  # handshake in the handler thread, not in the accept loop
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, peer

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that rejects our certificate aborts the handshake: expected in these tests


@pytest.fixture
def run_server() -> Iterator[object]:
    servers: list[RecordingServer] = []

    def start(server: RecordingServer) -> RecordingServer:
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        assert isinstance(self.server, RecordingServer)
        self.server.hosts.append(self.headers.get("Host", ""))
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


# -- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    zone = Zone(["example.lab"])
    for name in ("www.example.lab", "other.example.lab"):
        zone.add(name, "A", WEB_ADDRESS)
    zone.add("backend.example.lab", "A", "127.0.60.5")
    with DnsServer(DNS_ADDRESS, zone) as srv:
        yield srv


@pytest.fixture
def resolver(dns_server: DnsServer) -> Resolver:
    dns_server.reset_stats()
    return Resolver([(DNS_ADDRESS, dns_server.port)], timeout=0.5)


@pytest.fixture
def https(tmp_path: Path, run_server: object) -> tuple[RecordingServer, Path, list[str]]:
    cert, key = make_self_signed(tmp_path, "www.example.lab")
    seen_sni: list[str] = []
    server = RecordingServer(WEB_ADDRESS, EchoHandler, server_context(cert, key, seen_sni))
    run_server(server)  # type: ignore[operator]
    return server, cert, seen_sni


# -- target and connect -------------------------------------------------------------------------------
def test_target_applies_connect_to_then_dns(resolver: Resolver, dns_server: DnsServer) -> None:
    dialer = Dialer(resolver, parse_connect_to("www.example.lab:443:backend.example.lab:8443"))
    assert dialer.target("WWW.example.lab", 443) == ("127.0.60.5", 8443)
    assert dialer.target("www.example.lab", 80) == (WEB_ADDRESS, 80)
    assert dns_server.stats == {"backend.example.lab A": 1, "www.example.lab A": 1}


def test_ip_literal_needs_no_dns(resolver: Resolver, dns_server: DnsServer) -> None:
    dialer = Dialer(resolver, parse_connect_to(":443:127.0.60.9:"))
    assert dialer.target("anything.example.lab", 443) == ("127.0.60.9", 443)
    assert dialer.target("127.0.60.7", 25) == ("127.0.60.7", 25)
    assert dns_server.stats == {}


def test_without_a_resolver_the_system_resolves() -> None:
    host, port = Dialer(None).target("localhost", 8080)
    assert (host, port) in (("127.0.0.1", 8080), ("::1", 8080))


def test_a_name_that_does_not_resolve_is_a_collection_error(
    resolver: Resolver, dns_server: DnsServer
) -> None:
    dialer = Dialer(resolver, parse_connect_to("mail.example.lab:25:nothere.example.lab:"))
    with pytest.raises(CollectionError) as caught:
        dialer.target("mail.example.lab", 25)
    assert caught.value.server == "mail.example.lab"
    assert caught.value.channel == "dns"
    assert caught.value.reason == (
        f"nothere.example.lab does not resolve (NXDOMAIN from {DNS_ADDRESS}:{dns_server.port})"
    )


def test_connect_reaches_the_rewritten_port(resolver: Resolver) -> None:
    with socket.create_server((WEB_ADDRESS, 0)) as listener:
        port = listener.getsockname()[1]
        dialer = Dialer(resolver, parse_connect_to(f":25::{port}"))
        with dialer.connect("www.example.lab", 25, timeout=1) as client:
            accepted, _peer = listener.accept()
            with accepted:
                assert accepted.getpeername() == client.getsockname()


# -- requests through the dialer ----------------------------------------------------------------------
def test_https_keeps_the_original_name_for_sni_certificate_and_host(
    resolver: Resolver, https: tuple[RecordingServer, Path, list[str]]
) -> None:
    server, cert, seen_sni = https
    session = Dialer(resolver, parse_connect_to(f":443::{server.server_port}")).session()
    session.verify = str(cert)
    assert session.trust_env is False
    first = session.get("https://www.example.lab/", timeout=2)
    second = session.get("https://www.example.lab/again", timeout=2)
    assert (first.status_code, first.text, second.status_code) == (200, "hello", 200)
    assert server.hosts == ["www.example.lab", "www.example.lab"]
    assert seen_sni == ["www.example.lab"]
    assert server.connections == 1  # keep-alive: the second request reused the connection


def test_certificate_for_another_name_fails_verification(
    resolver: Resolver, https: tuple[RecordingServer, Path, list[str]]
) -> None:
    server, cert, seen_sni = https
    session = Dialer(resolver, parse_connect_to(f":443::{server.server_port}")).session()
    session.verify = str(cert)
    with pytest.raises(requests.exceptions.SSLError, match=r"[Hh]ostname mismatch.*other\.example\.lab"):
        session.get("https://other.example.lab/", timeout=2)
    assert seen_sni == ["other.example.lab"]


def test_plain_http_through_a_rule(resolver: Resolver, run_server: object) -> None:
    server = run_server(RecordingServer(WEB_ADDRESS, EchoHandler, None))  # type: ignore[operator]
    session = Dialer(resolver, parse_connect_to(f"www.example.lab:80::{server.server_port}")).session()
    assert session.get("http://www.example.lab/", timeout=2).text == "hello"
    assert server.hosts == ["www.example.lab"]


def test_dns_failure_surfaces_as_a_requests_connection_error(resolver: Resolver) -> None:
    session = Dialer(resolver).session()
    with pytest.raises(
        requests.exceptions.ConnectionError, match=r"nothere.example.lab does not resolve \(NXDOMAIN"
    ):
        session.get("http://nothere.example.lab/", timeout=2)


def test_refused_port_is_a_requests_connection_error(resolver: Resolver) -> None:
    with socket.create_server((WEB_ADDRESS, 0)) as listener:
        port = listener.getsockname()[1]
    session = Dialer(resolver, parse_connect_to(f":80::{port}")).session()
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        session.get("http://www.example.lab/", timeout=2)
    assert not isinstance(caught.value, requests.exceptions.ConnectTimeout)


def test_adapter_mounted_into_an_existing_session(resolver: Resolver, run_server: object) -> None:
    server = run_server(RecordingServer(WEB_ADDRESS, EchoHandler, None))  # type: ignore[operator]
    session = requests.Session()
    session.trust_env = False
    Dialer(resolver, parse_connect_to(f":80::{server.server_port}")).mount(session)
    assert session.get("http://www.example.lab/", timeout=2).status_code == 200


def test_a_proxy_would_bypass_the_dialer_and_is_refused(resolver: Resolver) -> None:
    session = Dialer(resolver).session()
    session.proxies = {"http": "http://127.0.0.1:9"}
    with pytest.raises(CollectionError, match="proxy"):
        session.get("http://www.example.lab/", timeout=2)


class ChallengeHandler(BaseHTTPRequestHandler):
    """401 until the request carries the token; the challenge round must stay on one connection."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        authorized = self.headers.get("Authorization") == "Test round-2"
        body = b"welcome" if authorized else b"denied"
        self.send_response(200 if authorized else 401)
        if not authorized:
            self.send_header("WWW-Authenticate", "Test")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class ConnectionBoundAuth(requests.auth.AuthBase):
    """Retries a 401 on the same adapter and connection, the way requests_ntlm does."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.register_hook("response", self.retry)  # type: ignore[no-untyped-call]
        return request

    def retry(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        _ = response.content
        response.raw.release_conn()
        request = response.request.copy()
        request.headers["Authorization"] = "Test round-2"
        retried: requests.Response = response.connection.send(request, **kwargs)
        retried.history.append(response)
        return retried


def test_auth_retry_on_the_same_keep_alive_connection(
    resolver: Resolver, tmp_path: Path, run_server: object
) -> None:
    cert, key = make_self_signed(tmp_path, "www.example.lab")
    server = run_server(RecordingServer(WEB_ADDRESS, ChallengeHandler, server_context(cert, key)))  # type: ignore[operator]
    session = Dialer(resolver, parse_connect_to(f":443::{server.server_port}")).session()
    session.verify = str(cert)
    response = session.get("https://www.example.lab/wsman", auth=ConnectionBoundAuth(), timeout=2)
    assert (response.status_code, response.text) == (200, "welcome")
    assert [r.status_code for r in response.history] == [401]
    assert server.connections == 1

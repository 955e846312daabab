"""The HTTP probe against a tiny http.server peer over loopback, through the dialer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.http import HttpProbe, auth_schemes, probe
from cas_conformance.lab import DnsServer, Zone
from cas_conformance.settings.connect_to import parse_connect_to
from tests.channels.test_dialer import RecordingServer, make_self_signed, run_server, server_context

__all__ = ["run_server"]  # the fixture, imported so these tests can use it

DNS_ADDRESS = "127.0.53.31"
WEB_ADDRESS = "127.0.61.1"
WHOLE = 1.0  # a timeout the tests time: long enough that a loaded machine adds little to it


class ExchangeLikeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        assert isinstance(self.server, RecordingServer)
        self.server.hosts.append(f"{self.command} {self.path}")
        routes = {
            "/owa": (302, b"", [("Location", "/owa/auth/logon.aspx")]),
            "/owa/auth/logon.aspx": (200, b"<html>Outlook Web App</html>", [("Content-Type", "text/html")]),
            "/parked": (302, b"", [("Location", "https://parking.example.net/landing")]),
            "/loop": (302, b"", [("Location", "/loop")]),
            "/big": (200, b"x" * 5000, [("Content-Type", "application/octet-stream")]),
            "/ews": (
                401,
                b"",
                [
                    ("WWW-Authenticate", "Negotiate"),
                    ("WWW-Authenticate", "NTLM"),
                    ("WWW-Authenticate", 'Basic realm="mail.contoso.lab", charset="UTF-8"'),
                ],
            ),
            "/missing": (404, b"not found", [("Content-Type", "text/plain; charset=utf-8")]),
        }
        status, body, headers = routes.get(self.path, (500, b"boom", []))
        self._send(status, body, headers)

    def do_POST(self) -> None:
        assert isinstance(self.server, RecordingServer)
        length = int(self.headers.get("Content-Length", "0"))
        payload = self.rfile.read(length)
        self.server.hosts.append(f"POST {self.path} {payload.decode()}")
        if self.path == "/autodiscover":
            self._send(302, b"", [("Location", "/owa/auth/logon.aspx")])
        elif self.path == "/echo":
            self._send(200, payload, [("Content-Type", "text/xml")])
        else:
            self._send(307, b"", [("Location", "/echo")])

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


@pytest.fixture(scope="module")
def resolver() -> Iterator[Resolver]:
    zone = Zone(["contoso.lab"])
    zone.add("mail.contoso.lab", "A", WEB_ADDRESS)
    with DnsServer(DNS_ADDRESS, zone) as srv:
        yield Resolver([(DNS_ADDRESS, srv.port)], timeout=1)


@pytest.fixture
def web(run_server: object, resolver: Resolver) -> tuple[RecordingServer, Dialer]:
    server = run_server(RecordingServer(WEB_ADDRESS, ExchangeLikeHandler, None))  # type: ignore[operator]
    return server, Dialer(resolver, parse_connect_to(f":80::{server.server_port}"))


def test_same_host_redirect_is_followed(web: tuple[RecordingServer, Dialer]) -> None:
    server, dialer = web
    result = probe(dialer.session(), "http://mail.contoso.lab/owa", timeout=2)
    assert result.status == 200
    assert result.final_url == "http://mail.contoso.lab/owa/auth/logon.aspx"
    assert result.redirects == ((302, "http://mail.contoso.lab/owa/auth/logon.aspx"),)
    assert result.content_type == "text/html"
    assert result.body_excerpt == "<html>Outlook Web App</html>"
    assert result.error is None
    assert server.hosts == ["GET /owa", "GET /owa/auth/logon.aspx"]


def test_off_host_redirect_is_recorded_not_followed(web: tuple[RecordingServer, Dialer]) -> None:
    server, dialer = web
    result = probe(dialer.session(), "http://mail.contoso.lab/parked", timeout=2)
    assert result.status == 302
    assert result.location == "https://parking.example.net/landing"
    assert result.redirects == ((302, "https://parking.example.net/landing"),)
    assert result.final_url == "http://mail.contoso.lab/parked"
    assert result.error is None
    assert server.hosts == ["GET /parked"]


def test_401_lists_the_offered_schemes(web: tuple[RecordingServer, Dialer]) -> None:
    result = probe(web[1].session(), "http://mail.contoso.lab/ews", timeout=2)
    assert result.status == 401
    assert result.www_authenticate == ("Negotiate", "NTLM", "Basic")


def test_error_statuses_are_results_not_errors(web: tuple[RecordingServer, Dialer]) -> None:
    session = web[1].session()
    missing = probe(session, "http://mail.contoso.lab/missing", timeout=2)
    assert (missing.status, missing.body_excerpt, missing.error) == (404, "not found", None)
    assert probe(session, "http://mail.contoso.lab/crash", timeout=2).status == 500


def test_redirect_loop_stops(web: tuple[RecordingServer, Dialer]) -> None:
    server, dialer = web
    result = probe(dialer.session(), "http://mail.contoso.lab/loop", timeout=2, max_redirects=3)
    assert result.error == "more than 3 redirects"
    assert len(server.hosts) == 4


def test_body_larger_than_the_limit(web: tuple[RecordingServer, Dialer]) -> None:
    result = probe(web[1].session(), "http://mail.contoso.lab/big", timeout=2, max_body=1000)
    assert result.status == 200
    assert result.error is not None and result.error.startswith("response larger than 1000 bytes")


def test_post_redirected_with_302_becomes_get(web: tuple[RecordingServer, Dialer]) -> None:
    server, dialer = web
    result = probe(
        dialer.session(), "http://mail.contoso.lab/autodiscover", method="post", data=b"<x/>", timeout=2
    )
    assert (result.method, result.status) == ("POST", 200)
    assert server.hosts == ["POST /autodiscover <x/>", "GET /owa/auth/logon.aspx"]


def test_post_redirected_with_307_keeps_method_and_body(web: tuple[RecordingServer, Dialer]) -> None:
    server, dialer = web
    result = probe(dialer.session(), "http://mail.contoso.lab/first", method="POST", data=b"<x/>", timeout=2)
    assert (result.status, result.body_excerpt) == (200, "<x/>")
    assert server.hosts == ["POST /first <x/>", "POST /echo <x/>"]


def test_refused_port(resolver: Resolver) -> None:
    with socket.create_server((WEB_ADDRESS, 0)) as listener:
        port = listener.getsockname()[1]
    dialer = Dialer(resolver, parse_connect_to(f":80::{port}"))
    result = probe(dialer.session(), "http://mail.contoso.lab/owa", timeout=2)
    assert (result.status, result.error) == (None, "connection refused")


def test_name_that_does_not_resolve(resolver: Resolver) -> None:
    result = probe(Dialer(resolver).session(), "http://nothere.contoso.lab/owa", timeout=2)
    assert result.status is None
    assert result.error is not None and result.error.startswith(
        "nothere.contoso.lab does not resolve (NXDOMAIN"
    )


def test_timeout_is_honoured(resolver: Resolver) -> None:
    with socket.create_server((WEB_ADDRESS, 0), backlog=4) as silent:  # accepts (backlog) but never answers
        dialer = Dialer(resolver, parse_connect_to(f":80::{silent.getsockname()[1]}"))
        started = time.monotonic()
        result = probe(dialer.session(), "http://mail.contoso.lab/owa", timeout=WHOLE)
        elapsed = time.monotonic() - started
    assert result.error == "timed out after 1 s"
    # the timeout once, not once for the connection and again for the answer (or per retry)
    assert WHOLE <= elapsed < 1.8 * WHOLE


def test_tls_verification_failure_is_described(
    tmp_path: Path, run_server: object, resolver: Resolver
) -> None:
    cert, key = make_self_signed(tmp_path, "legacy.contoso.lab")
    server = run_server(RecordingServer(WEB_ADDRESS, ExchangeLikeHandler, server_context(cert, key)))  # type: ignore[operator]
    session = Dialer(resolver, parse_connect_to(f":443::{server.server_port}")).session()
    session.verify = str(cert)
    result = probe(session, "https://mail.contoso.lab/owa", timeout=2)
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("TLS certificate verify failed: Hostname mismatch")


def test_probe_round_trips_through_json(web: tuple[RecordingServer, Dialer]) -> None:
    result = probe(web[1].session(), "http://mail.contoso.lab/owa", timeout=2)
    assert HttpProbe.from_dict(json.loads(json.dumps(result.to_dict()))) == result


@pytest.mark.parametrize(
    ("headers", "schemes"),
    [
        (['Negotiate, NTLM, Basic realm="x, y"'], ("Negotiate", "NTLM", "Basic")),
        (['Basic realm="a", charset="UTF-8"', "negotiate abc=="], ("Basic", "negotiate")),
        (["NTLM", "ntlm"], ("NTLM",)),
        ([], ()),
    ],
)
def test_auth_scheme_parsing(headers: list[str], schemes: tuple[str, ...]) -> None:
    assert auth_schemes(headers) == schemes

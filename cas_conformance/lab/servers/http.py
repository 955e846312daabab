"""Threaded HTTP/1.1 and HTTPS servers for the lab, many loopback addresses on one port.

Each simulated host has its own 127.x.y.z address; :func:`~cas_conformance.lab.servers.net.bind_tcp` binds
one socket per address on a common port so a single ``connect_to`` rule reaches them all. The HTTPS
server picks the certificate by SNI, like IIS with several bindings, and counts successful
handshakes per ``"<sni>:<port>"`` so tests can prove that the suite fetched each endpoint once.

Requests go to one plain function, ``HttpHandler = Callable[[HttpRequest], HttpResponse]``, so the
same handlers run behind either server. A handler that raises gets a 500 for the client and its
exception is recorded; :meth:`HttpServer.check` (and :meth:`HttpServer.stop`) re-raise it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeAlias, cast

from requests.structures import CaseInsensitiveDict

from cas_conformance.errors import LabError
from cas_conformance.lab.servers.listener import Connection, Listener

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 30.0
HANDSHAKE_TIMEOUT = 10.0
MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class HttpRequest:
    """One request as the handler sees it. ``host`` is the Host header, lower case, without port."""

    host: str
    sni: str | None
    local_address: str
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    #: the client's (address, port): which connection the request came on
    peer: tuple[str, int] = ("", 0)


@dataclass(frozen=True)
class HttpResponse:
    """Status, headers in order, body. Content-Length is added unless the handler set it."""

    status: int
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""


HttpHandler: TypeAlias = Callable[[HttpRequest], HttpResponse]


def _host_without_port(value: str) -> str:
    value = value.strip()
    if value.startswith("["):
        return value[1 : value.find("]")].lower() if "]" in value else value.lower()
    name, sep, port = value.rpartition(":")
    if sep and port.isdigit():
        value = name
    return value.lower().rstrip(".")


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _Exchange(BaseHTTPRequestHandler):
    """Parses requests on one connection (keep-alive) and passes them to the lab handler."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def __init__(self, conn: socket.socket, server: HttpServer, sni: str | None, local_address: str) -> None:
        self.lab_server = server
        self.sni = sni
        self.local_address = local_address
        # BaseHTTPRequestHandler never uses ``server``; ours is not a socketserver.BaseServer.
        super().__init__(conn, conn.getpeername(), cast(Any, server))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, self.local_address, *args)

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._dispatch()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024).split(b";")[0].strip()
                try:
                    size = int(line, 16)
                except ValueError as exc:
                    raise _BadRequest(400, "malformed chunk size") from exc
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise _BadRequest(413, "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length_text = self.headers.get("Content-Length", "0")
        if not length_text.strip().isdigit():
            raise _BadRequest(400, "malformed Content-Length")
        length = int(length_text)
        if length > MAX_BODY:
            raise _BadRequest(413, "request body too large")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            self.send_error(exc.status, str(exc))
            return
        request = HttpRequest(
            host=_host_without_port(self.headers.get("Host", "")),
            sni=self.sni,
            local_address=self.local_address,
            method=self.command,
            path=self.path,
            headers=CaseInsensitiveDict(self.headers.items()),
            body=body,
            peer=(str(self.client_address[0]), int(self.client_address[1])),
        )
        try:
            response = self.lab_server.handler(request)
        except Exception as exc:
            self.lab_server.record_error(exc)
            response = HttpResponse(500, [("Content-Type", "text/plain")], b"lab handler failed\n")
        self._send(response)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        names = {name.lower() for name, _ in response.headers}
        for name, value in response.headers:
            self.send_header(name, value)
        no_body = response.status < 200 or response.status in (204, 304)
        if not no_body and "content-length" not in names and "transfer-encoding" not in names:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and not no_body:
            self.wfile.write(response.body)


class HttpServer(Listener):
    """Plain HTTP/1.1 on every address of *addresses*, all on one port (``port=0``: kernel's choice)."""

    kind = "HTTP"

    def __init__(self, addresses: Sequence[str], handler: HttpHandler, *, port: int = 0) -> None:
        super().__init__(list(addresses), port=port)
        self.handler = handler

    def check(self) -> None:
        """Re-raise (once) the first exception recorded in a server thread, as a LabError."""
        try:
            super().check()
        finally:
            with self._lock:
                self._errors.clear()

    def _serve_connection(self, connection: Connection) -> None:
        # Headers and body may leave in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every response back ~40 ms, as no real IIS does.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sni = self._handshake(connection)
        _Exchange(connection.sock, self, sni, connection.local_address)

    def _handshake(self, connection: Connection) -> str | None:
        """Secure *connection* if the server speaks TLS and return the SNI; OSError drops it."""
        return None


class HttpsServer(HttpServer):
    """HTTPS on every address, the certificate chosen by SNI from *sites* (names are case-insensitive).

    A name not in *sites* (or no SNI) gets *default_site*'s context, or a failed handshake
    (``unrecognized_name`` alert) when there is no default. Protocol versions and ciphers come from
    the server's own permissive context; the sites' contexts supply certificate and key.
    """

    kind = "HTTPS"

    def __init__(
        self,
        addresses: Sequence[str],
        sites: Mapping[str, ssl.SSLContext],
        handler: HttpHandler,
        *,
        port: int = 0,
        default_site: str | None = None,
    ) -> None:
        super().__init__(addresses, handler, port=port)
        self._sites = {name.lower().rstrip("."): context for name, context in sites.items()}
        self._default = default_site.lower().rstrip(".") if default_site else None
        if self._default is not None and self._default not in self._sites:
            raise LabError(f"default_site {default_site!r} is not one of the sites {sorted(self._sites)}")
        self.stats: Counter[str] = Counter()
        self._sni = threading.local()
        self._base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._base.set_ciphers("DEFAULT:@SECLEVEL=0")
        self._base.num_tickets = 0  # no TLS 1.3 tickets after the handshake: a client that closes at once
        # (chain probes, openssl s_client) must not turn a completed handshake into a failed one
        self._base.sni_callback = self._select_site

    def _select_site(
        self, sock: ssl.SSLSocket | ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        name = server_name.lower().rstrip(".") if server_name else None
        self._sni.name = name
        context = self._sites.get(name) if name else None
        if context is None and self._default is not None:
            context = self._sites[self._default]
        if context is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sock.context = context
        return None

    def _handshake(self, connection: Connection) -> str | None:
        tls = connection.upgrade(
            lambda raw: self._base.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        )
        tls.settimeout(HANDSHAKE_TIMEOUT)
        self._sni.name = None
        tls.do_handshake()  # a failure (ssl.SSLError is an OSError) drops the connection
        sni = cast("str | None", self._sni.name)
        with self._lock:
            self.stats[f"{sni or ''}:{self.port}"] += 1
        tls.settimeout(None)
        return sni

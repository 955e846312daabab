"""The lab's WS-Management (WinRM) server: real pywinrm clients run commands against simulated hosts.

One instance listens on several loopback addresses (one per simulated Exchange server) on one port and
tells them apart by the HTTP Host header. Commands never run: a *handler* answers each command line
(with its stdin) the way the simulated server would. What real servers do that bites clients is kept:
connection-based NTLM with WinRM message encryption required over HTTP, Basic only over HTTPS, the
cmd.exe 8,191-character command-line limit, output encoded in the shell's code page, Receive answering
the OperationTimeout fault while a command is still running, and WS-Man faults with HTTP 500.
:class:`_WsmanHTTPHandler` does the HTTP side (framing; authentication and encryption come from
:mod:`cas_conformance.lab.auth.ntlm`), :class:`~cas_conformance.lab.servers.winrs.ShellService` the
WinRS shell state machine and :mod:`cas_conformance.lab.servers.wsman` the SOAP messages. The handler's types
(:class:`CommandRequest`, :class:`CommandResult`, :data:`Handler`) are defined with the shells and
importable from here.
"""

from __future__ import annotations

import logging
import socket
import ssl
import warnings
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cas_conformance.errors import LabError
from cas_conformance.lab.auth.ntlm import ConnectionAuthenticator, LabUsers, open_request, seal_reply
from cas_conformance.lab.servers import wsman
from cas_conformance.lab.servers.listener import Connection, Listener
from cas_conformance.lab.servers.winrs import (
    CMD_LINE_LIMIT,
    TOO_LONG,
    CommandRequest,
    CommandResult,
    Handler,
    RequestContext,
    ShellService,
    codec_for,
)
from cas_conformance.lab.servers.wsman import WsmanFault, WsmanRequest

if TYPE_CHECKING:
    from cas_conformance.lab.auth.kerberos import KerberosKeytab

__all__ = [
    "CMD_LINE_LIMIT",
    "MAX_BODY",
    "TOO_LONG",
    "CommandRequest",
    "CommandResult",
    "Handler",
    "RequestContext",
    "WinRMServer",
    "codec_for",
]

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024  # larger request bodies get 413


class _WsmanHTTPHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive framing, authentication and message encryption of one connection."""

    protocol_version = "HTTP/1.1"
    timeout = 120.0  # HTTP.sys keeps an idle connection two minutes: NTLM state must survive pauses
    wbufsize = 64 * 1024  # headers and body leave in one write (flushed after each request)

    def __init__(self, sock: socket.socket, peer: tuple[str, int], lab: WinRMServer) -> None:
        self.lab = lab
        assert lab.users is not None
        self.auth = ConnectionAuthenticator(
            lab.users, tls=lab.tls_context is not None, kerberos=lab.kerberos, credssp=lab.credssp
        )
        super().__init__(sock, peer, None)  # type: ignore[arg-type]  # no socketserver in use

    def version_string(self) -> str:
        return "Microsoft-HTTPAPI/2.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.client_address[0], format % args)  # request line and status only

    def do_GET(self) -> None:
        self._reply(405, b"", extra=[("Allow", "POST")])

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if urlsplit(self.path).path.rstrip("/").lower() != "/wsman":
            self._reply(404, b"")
            return
        outcome = self.auth.authenticate(self.headers.get("Authorization"))
        if outcome.user is None:
            self._reply(401, b"", extra=[("WWW-Authenticate", value) for value in outcome.challenges])
            return
        context = self.auth.context
        protocol = self.auth.encryption_protocol
        mutual = [("WWW-Authenticate", outcome.answer)] if outcome.answer else []
        opened = open_request(
            context,
            protocol,
            self.headers.get("Content-Type", ""),
            body,
            tls=self.lab.tls_context is not None,
        )
        if opened.body is None:
            offers = [("WWW-Authenticate", value) for value in self.auth.offers] if opened.challenge else []
            self._reply(opened.status, b"", extra=offers, close=opened.close)
            return
        if not opened.body:
            self._reply(200, b"", extra=mutual)  # pywinrm's empty message that sets up encryption
            return
        status, answer = self._process(opened.body, outcome.user)
        reply, content_type = seal_reply(context, protocol, answer, sealed=opened.sealed)
        self._reply(status, reply, content_type, extra=mutual)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._reply(411, b"", close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self._reply(400, b"", close=True)
            return None
        if length > MAX_BODY:
            # Swallow a moderately oversized body first, so the client reads the 413 rather than a reset.
            remaining = length if length <= 4 * MAX_BODY else 0
            while remaining > 0:
                piece = self.rfile.read(min(remaining, 1 << 20))
                if not piece:
                    break
                remaining -= len(piece)
            self._reply(413, b"", close=True)
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return None
        return body

    def _process(self, body: bytes, user: str) -> tuple[int, bytes]:
        host = _host_name(self.headers.get("Host", ""), self.connection.getsockname()[0])
        ctx = RequestContext(
            host=host,
            local_address=self.connection.getsockname()[0],
            client_ip=self.client_address[0],
            user=user,
            address=f"{self.lab.scheme}://{self.headers.get('Host', host)}/wsman",
            delegated=self.auth.delegated,
        )
        relates_to = ""
        try:
            request = wsman.parse_request(body)
            relates_to = request.message_id
            return 200, self.lab.dispatch(request, ctx)
        except WsmanFault as fault:
            return 500, wsman.fault_response(fault, relates_to, host)

    def _reply(
        self,
        status: int,
        body: bytes,
        content_type: str | None = None,
        *,
        extra: Sequence[tuple[str, str]] = (),
        close: bool = False,
    ) -> None:
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


def _host_name(header: str, fallback: str) -> str:
    """The Host header's name, lower-case, without port (IPv6 literals without brackets)."""
    header = header.strip()
    if header.startswith("["):
        return header[1:].partition("]")[0].lower() or fallback
    return header.rpartition(":")[0].lower() if ":" in header else (header.lower() or fallback)


_TLS_VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2}


def offer_tls_up_to(context: ssl.SSLContext, newest: str) -> ssl.SSLContext:
    """Make *context* offer TLS 1.0 up to *newest* ("1.0", "1.1" or "1.2"), as Schannel on Windows
    Server 2008 R2 does: TLS 1.0 only as shipped, 1.1 and 1.2 once enabled in the registry (it has
    no TLS 1.3). Returns *context*."""
    if newest not in _TLS_VERSIONS:
        raise LabError(f"no such TLS version for a WinRM listener: {newest!r} (use 1.0, 1.1 or 1.2)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1: what the lab simulates
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = _TLS_VERSIONS[newest]
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 speaks TLS 1.0/1.1 only at level 0
    return context


class WinRMServer(Listener):
    """A WinRM listener (HTTPS when *tls_context* is given, else HTTP) on every address in *addresses*.

    *credentials* maps user names (``labadmin`` or ``CONTOSO\\labadmin``, matched case-insensitively)
    to passwords. With *keytab* (the lab KDC's, see :mod:`cas_conformance.lab.auth.kdc`) Kerberos is
    accepted too. With *credssp* the HTTPS listener also takes CredSSP (as after
    ``Enable-WSManCredSSP -Role Server``). :meth:`start` binds the listening sockets; :attr:`port` then holds the bound port.
    """

    kind = "WinRM"

    def __init__(
        self,
        addresses: Sequence[str],
        handler: Handler,
        credentials: Mapping[str, str],
        *,
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
        keytab: Path | None = None,
        credssp: bool = False,
    ) -> None:
        super().__init__(list(addresses), port=port)
        self.tls_context = tls_context
        self.credssp = credssp  # offered over HTTPS only (the connection's authenticator decides)
        self._credentials = dict(credentials)
        self.users: LabUsers | None = None
        self._keytab = keytab
        self.kerberos: KerberosKeytab | None = None  # loaded from *keytab* at start
        self._shells = ShellService(handler, self.record_error)
        self.stats = self._shells.stats  # rsp:Command requests per Host name
        self.command_line_chars = self._shells.command_line_chars
        self.stdin_bytes = self._shells.stdin_bytes
        self.actions = self._shells.actions  # WS-Man requests per action name ("Create", "Receive", ...)

    def __repr__(self) -> str:
        return f"WinRMServer({self.scheme}, {self.addresses!r}, port={self._port or self._requested_port})"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_context is not None else "http"

    def start(self) -> WinRMServer:
        if self._loop is not None:
            raise LabError("the lab WinRM server was already started")
        self.users = LabUsers(self._credentials)
        try:
            if self._keytab is not None:
                from cas_conformance.lab.auth.kerberos import KerberosKeytab

                self.kerberos = KerberosKeytab(self._keytab)
            return super().start()
        except BaseException:
            self.users.close()
            raise

    def _release_waiters(self) -> None:
        self._shells.stop()  # wakes the Receives waiting for output

    def _stopped(self) -> None:
        if self.users is not None:
            self.users.close()

    @property
    def shell_count(self) -> int:
        """Shells created and not yet deleted."""
        return self._shells.shell_count

    def dispatch(self, request: WsmanRequest, ctx: RequestContext) -> bytes:
        return self._shells.dispatch(request, ctx)

    def _serve_connection(self, connection: Connection) -> None:
        sock = connection.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_context is not None:
            context = self.tls_context
            sock.settimeout(10.0)
            tls = connection.upgrade(
                lambda raw: context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            )
            tls.do_handshake()
            sock = tls
        if not self._stopping.is_set():
            _WsmanHTTPHandler(sock, connection.peer, self)

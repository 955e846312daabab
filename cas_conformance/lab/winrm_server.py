"""The lab's WS-Management (WinRM) server: real pywinrm clients run commands against simulated hosts.

One instance listens on several loopback addresses (one per simulated Exchange server) on one port and
tells them apart by the HTTP Host header. Commands never run: a *handler* answers each command line
(with its stdin) the way the simulated server would. What real servers do that bites clients is kept:
connection-based NTLM with WinRM message encryption required over HTTP, Basic only over HTTPS, the
cmd.exe 8,191-character command-line limit, output encoded in the shell's code page, Receive answering
the OperationTimeout fault while a command is still running, and WS-Man faults with HTTP 500.
:class:`_WsmanHTTPHandler` does the HTTP side (framing; authentication and encryption come from
:mod:`cas_conformance.lab.ntlm_acceptor`), :class:`_ShellService` the WinRS shell state machine and
:mod:`cas_conformance.lab.wsman` the SOAP messages.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import MappingProxyType, TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

from cas_conformance.errors import LabError
from cas_conformance.lab import wsman
from cas_conformance.lab.net import bind_tcp, ensure_loopback
from cas_conformance.lab.ntlm_acceptor import (
    ENCRYPTED_CONTENT_TYPE,
    ConnectionAuthenticator,
    EncryptionError,
    LabUsers,
    decrypt_message,
    encrypt_message,
    is_encrypted,
)
from cas_conformance.lab.wsman import WsmanFault, WsmanRequest

log = logging.getLogger(__name__)

CMD_LINE_LIMIT = 8191  # cmd.exe's maximum command-line length
TOO_LONG = "The command line is too long.\r\n"
MAX_BODY = 10 * 1024 * 1024  # larger request bodies get 413
_STREAM_CHUNK = 32 * 1024
_JOIN_TIMEOUT = 5.0
_HANDLER_GRACE = 0.5


def _join_all(threads: Sequence[threading.Thread], budget: float) -> None:
    deadline = time.monotonic() + budget
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True)
class CommandRequest:
    """One command as the simulated host sees it, handed to the lab's handler."""

    host: str
    local_address: str
    username: str
    command: str
    arguments: tuple[str, ...]
    command_line: str
    stdin: bytes
    codepage: int
    environment: Mapping[str, str]


@dataclass(frozen=True)
class CommandResult:
    """What the command printed and returned; str output is encoded with the shell's code page."""

    stdout: str
    stderr: str | bytes
    exit_code: int


Handler = Callable[[CommandRequest], CommandResult]


@dataclass(frozen=True)
class RequestContext:
    """Who sent a WS-Man request and where it arrived."""

    host: str
    local_address: str
    client_ip: str
    user: str
    address: str  # the endpoint URL as the client addressed it


def codec_for(codepage: int) -> str:
    """The Python codec for a Windows code page (65001 is UTF-8); unknown pages raise LookupError."""
    name = "utf-8" if codepage == 65001 else f"cp{codepage}"
    return codecs.lookup(name).name


class _Command:
    def __init__(
        self, command_id: str, command: str, arguments: tuple[str, ...], context: RequestContext
    ) -> None:
        self.command_id = command_id
        self.command = command
        self.arguments = arguments
        self.context = context
        self.stdin = bytearray()
        self.started = False
        self.done = False
        self.output: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self.sent: dict[str, int] = {"stdout": 0, "stderr": 0}
        self.exit_code = 0

    @property
    def command_line(self) -> str:
        return " ".join((self.command, *self.arguments))


class _Shell:
    def __init__(self, shell_id: str, owner: str, codepage: int, environment: Mapping[str, str]) -> None:
        self.shell_id = shell_id
        self.owner = owner
        self.codepage = codepage
        self.codec = codec_for(codepage)
        self.environment = MappingProxyType(dict(environment))
        self.commands: dict[str, _Command] = {}


class _ShellService:
    """WinRS cmd shells and their commands; runs the handler in worker threads."""

    def __init__(self, handler: Handler, record_error: Callable[[BaseException], None]) -> None:
        self._handler = handler
        self._record_error = record_error
        self._cond = threading.Condition()
        self._shells: dict[str, _Shell] = {}
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self.stats: collections.Counter[str] = collections.Counter()
        self.actions: collections.Counter[str] = collections.Counter()

    @property
    def shell_count(self) -> int:
        with self._cond:
            return len(self._shells)

    def dispatch(self, request: WsmanRequest, ctx: RequestContext) -> bytes:
        if request.resource_uri.lower() != wsman.RESOURCE_CMD:
            raise WsmanFault(
                "a:DestinationUnreachable",
                f"The WS-Management service cannot process the request. The resource URI "
                f"{request.resource_uri} is not supported by the lab.",
            )
        with self._cond:
            self.actions[request.action.rpartition("/")[2]] += 1
        if request.action == wsman.ACTION_CREATE:
            return self._create(request, ctx)
        with self._cond:
            shell = self._shell(request, ctx)
            if request.action == wsman.ACTION_COMMAND:
                return self._command(shell, request, ctx)
            if request.action == wsman.ACTION_SEND:
                return self._send(shell, request)
            if request.action == wsman.ACTION_RECEIVE:
                return self._receive(shell, request)
            if request.action == wsman.ACTION_SIGNAL:
                command = self._find_command(shell, wsman.parse_signal(request)[0])
                del shell.commands[command.command_id]
                return wsman.signal_response(request.message_id)
            if request.action == wsman.ACTION_DELETE:
                del self._shells[shell.shell_id]
                return wsman.delete_response(request.message_id)
        raise WsmanFault(
            "a:ActionNotSupported", f"The action {request.action} is not supported by the service."
        )

    def _create(self, request: WsmanRequest, ctx: RequestContext) -> bytes:
        spec = wsman.parse_create(request)
        page_text = request.option("WINRS_CODEPAGE", "437")
        try:
            codepage = int(page_text)
            shell = _Shell(wsman.new_id(), ctx.user, codepage, spec.environment)
        except (ValueError, LookupError) as exc:
            raise wsman.invalid_parameter_fault(f"Unsupported code page {page_text!r}.") from exc
        with self._cond:
            self._shells[shell.shell_id] = shell
        return wsman.create_response(
            request.message_id, ctx.address, shell.shell_id, ctx.user, ctx.client_ip, spec
        )

    def _shell(self, request: WsmanRequest, ctx: RequestContext) -> _Shell:
        shell_id = request.selectors.get("ShellId", "")
        shell = self._shells.get(shell_id.upper())
        # A shell belongs to the user who created it; others get the same fault as for a missing one.
        if shell is None or shell.owner.lower() != ctx.user.lower():
            raise wsman.shell_not_found_fault(shell_id)
        return shell

    @staticmethod
    def _find_command(shell: _Shell, command_id: str) -> _Command:
        command = shell.commands.get(command_id.upper())
        if command is None:
            raise wsman.invalid_parameter_fault(f"The command {command_id} was not found in the shell.")
        return command

    def _command(self, shell: _Shell, request: WsmanRequest, ctx: RequestContext) -> bytes:
        name, arguments = wsman.parse_command(request)
        command = _Command(wsman.new_id(), name, arguments, ctx)
        shell.commands[command.command_id] = command
        self.stats[ctx.host] += 1
        skip_cmd = request.option("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        if not skip_cmd and len(command.command_line) > CMD_LINE_LIMIT:
            # cmd.exe refuses before anything runs: the handler is never asked.
            command.started = command.done = True
            command.output["stderr"] = TOO_LONG.encode(shell.codec)
            command.exit_code = 1
        return wsman.command_response(request.message_id, command.command_id)

    def _send(self, shell: _Shell, request: WsmanRequest) -> bytes:
        for chunk in wsman.parse_send(request):
            command = self._find_command(shell, chunk.command_id)
            if command.started:
                raise wsman.invalid_parameter_fault("The stdin stream of the command is already closed.")
            command.stdin += chunk.data
            if chunk.end:
                self._start(shell, command)
        return wsman.send_response(request.message_id)

    def _receive(self, shell: _Shell, request: WsmanRequest) -> bytes:
        command = self._find_command(shell, wsman.parse_receive(request))
        if not command.started:
            # No (closing) Send came: the process starts with whatever stdin it got, now at EOF.
            self._start(shell, command)
        self._cond.wait_for(lambda: command.done or self._stopping, timeout=request.operation_timeout)
        if not command.done:
            raise wsman.operation_timeout_fault()
        budget = max(1024, (request.max_envelope_size - 4096) * 3 // 4)
        chunks: list[tuple[str, bytes]] = []
        for name in ("stdout", "stderr"):
            data, offset = command.output[name], command.sent[name]
            while offset < len(data) and budget > 0:
                piece = data[offset : offset + min(budget, _STREAM_CHUNK)]
                chunks.append((name, piece))
                offset += len(piece)
                budget -= len(piece)
            command.sent[name] = offset
        finished = all(command.sent[name] == len(command.output[name]) for name in command.output)
        return wsman.receive_response(
            request.message_id, command.command_id, chunks, command.exit_code if finished else None
        )

    def _start(self, shell: _Shell, command: _Command) -> None:
        command.started = True
        ctx = command.context
        call = CommandRequest(
            host=ctx.host,
            local_address=ctx.local_address,
            username=shell.owner,
            command=command.command,
            arguments=command.arguments,
            command_line=command.command_line,
            stdin=bytes(command.stdin),
            codepage=shell.codepage,
            environment=shell.environment,
        )
        worker = threading.Thread(
            target=self._run, args=(shell.codec, command, call), name=f"winrm-cmd-{ctx.host}", daemon=True
        )
        self._workers = [w for w in self._workers if w.is_alive()]
        self._workers.append(worker)
        worker.start()

    def _run(self, codec: str, command: _Command, call: CommandRequest) -> None:
        try:
            result = self._handler(call)
            stdout = result.stdout.encode(codec, errors="replace")
            stderr = (
                result.stderr if isinstance(result.stderr, bytes) else result.stderr.encode(codec, "replace")
            )
            exit_code = int(result.exit_code)
        except Exception as exc:
            # A broken handler is a lab bug: the client sees a failed command, check() raises it.
            self._record_error(exc)
            stdout, stderr, exit_code = b"", f"lab handler failed: {type(exc).__name__}\r\n".encode(codec), 1
        with self._cond:
            command.output = {"stdout": stdout, "stderr": stderr}
            command.exit_code = exit_code
            command.done = True
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            workers = list(self._workers)
        # Handlers cannot be interrupted; give running ones a moment, then leave them (daemon threads).
        _join_all(workers, _HANDLER_GRACE)


class _WsmanHTTPHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive framing, authentication and message encryption of one connection."""

    protocol_version = "HTTP/1.1"
    timeout = 120.0  # HTTP.sys keeps an idle connection two minutes: NTLM state must survive pauses
    wbufsize = 64 * 1024  # headers and body leave in one write (flushed after each request)

    def __init__(self, sock: socket.socket, peer: tuple[str, int], lab: WinRMServer) -> None:
        self.lab = lab
        assert lab.users is not None
        self.auth = ConnectionAuthenticator(lab.users, tls=lab.tls_context is not None)
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
        context = self.auth.ntlm_context
        encrypted = is_encrypted(self.headers.get("Content-Type", ""))
        if encrypted:
            if context is None:
                self._reply(400, b"")
                return
            try:
                body = decrypt_message(context, body)
            except EncryptionError as exc:
                log.debug("encrypted WinRM message rejected: %s", exc)
                self._reply(400, b"", close=True)
                return
        elif body and self.lab.tls_context is None:
            # AllowUnencrypted=false: over HTTP every SOAP message must be sealed.
            self._reply(401, b"", extra=[("WWW-Authenticate", value) for value in self.auth.offers])
            return
        if not body:
            self._reply(200, b"")  # pywinrm's empty message that sets up encryption
            return
        status, answer = self._process(body, outcome.user)
        if encrypted and context is not None:
            self._reply(status, encrypt_message(context, answer), ENCRYPTED_CONTENT_TYPE)
        else:
            self._reply(status, answer, "application/soap+xml;charset=UTF-8")

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


class WinRMServer:
    """A WinRM listener (HTTPS when *tls_context* is given, else HTTP) on every address in *addresses*.

    *credentials* maps user names (``labadmin`` or ``CONTOSO\\labadmin``, matched case-insensitively)
    to passwords. :meth:`start` binds the listening sockets; :attr:`port` then holds the bound port.
    """

    def __init__(
        self,
        addresses: Sequence[str],
        handler: Handler,
        credentials: Mapping[str, str],
        *,
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if not addresses:
            raise LabError("WinRMServer needs at least one address")
        for address in addresses:
            ensure_loopback(address)
        self.addresses = list(addresses)
        self.port = port
        self.tls_context = tls_context
        self._credentials = dict(credentials)
        self.users: LabUsers | None = None
        self._errors: list[BaseException] = []
        self._errors_lock = threading.Lock()
        self._shells = _ShellService(handler, self._record_error)
        self.stats = self._shells.stats  # rsp:Command requests per Host name
        self.actions = self._shells.actions  # WS-Man requests per action name ("Create", "Receive", ...)
        self._listeners: list[socket.socket] = []
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._conn_lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"WinRMServer({self.scheme}, {self.addresses!r}, port={self.port})"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_context is not None else "http"

    def __enter__(self) -> WinRMServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if exc_type is None:
            self.check()

    def start(self) -> None:
        if self._accept_thread is not None:
            raise LabError("WinRMServer already started")
        self.users = LabUsers(self._credentials)
        try:
            self._listeners = bind_tcp(self.addresses, self.port)
        except BaseException:
            self.users.close()
            raise
        self.port = self._listeners[0].getsockname()[1]
        self._wakeup = socket.socketpair()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="winrm-accept", daemon=True)
        self._accept_thread.start()
        if not self._ready.wait(_JOIN_TIMEOUT):
            self.stop()
            raise LabError("WinRM lab server did not become ready")

    def stop(self) -> None:
        """Stop accepting, cut open connections, wake waiting Receives; idempotent and prompt."""
        if self._stopping.is_set() or self._accept_thread is None:
            return
        self._stopping.set()
        assert self._wakeup is not None
        self._wakeup[1].send(b"x")
        self._accept_thread.join(_JOIN_TIMEOUT)
        with self._conn_lock:
            connections, threads = list(self._connections), list(self._threads)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                socket.socket.shutdown(conn, socket.SHUT_RDWR)  # plain shutdown, also for an SSLSocket
        self._shells.stop()
        _join_all(threads, _JOIN_TIMEOUT)
        for sock in [*self._listeners, *self._wakeup]:
            sock.close()
        if self.users is not None:
            self.users.close()

    def check(self) -> None:
        """Re-raise (as LabError) the first exception a server thread or the handler hit."""
        with self._errors_lock:
            first = self._errors[0] if self._errors else None
        if first is not None:
            raise LabError(f"WinRM lab server error: {type(first).__name__}: {first}") from first

    def _record_error(self, exc: BaseException) -> None:
        log.error("WinRM lab server error: %s", type(exc).__name__, exc_info=exc)
        with self._errors_lock:
            self._errors.append(exc)

    @property
    def shell_count(self) -> int:
        """Shells created and not yet deleted."""
        return self._shells.shell_count

    def dispatch(self, request: WsmanRequest, ctx: RequestContext) -> bytes:
        return self._shells.dispatch(request, ctx)

    def _accept_loop(self) -> None:
        assert self._wakeup is not None
        try:
            with selectors.DefaultSelector() as selector:
                for listener in self._listeners:
                    listener.setblocking(False)
                    selector.register(listener, selectors.EVENT_READ)
                selector.register(self._wakeup[0], selectors.EVENT_READ)
                self._ready.set()
                while not self._stopping.is_set():
                    for key, _events in selector.select():
                        if key.fileobj is not self._wakeup[0] and not self._stopping.is_set():
                            self._accept(cast(socket.socket, key.fileobj))
        except Exception as exc:
            self._record_error(exc)
            self._ready.set()

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, peer = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(True)
        thread = threading.Thread(target=self._serve, args=(conn, peer), name="winrm-conn", daemon=True)
        with self._conn_lock:
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(thread)
            self._connections.add(conn)
        thread.start()

    def _serve(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls_context is not None:
                sock.settimeout(10.0)
                wrapped = self.tls_context.wrap_socket(sock, server_side=True)
                with self._conn_lock:
                    self._connections.discard(sock)
                    self._connections.add(wrapped)
                sock = wrapped
            if not self._stopping.is_set():
                _WsmanHTTPHandler(sock, peer, self)
        except OSError as exc:  # includes ssl.SSLError: clients that go away or fail the handshake
            log.debug("WinRM connection from %s ended: %s", peer[0], type(exc).__name__)
        except Exception as exc:
            self._record_error(exc)
        finally:
            with self._conn_lock:
                self._connections.discard(sock)
            sock.close()

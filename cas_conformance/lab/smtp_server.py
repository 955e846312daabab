"""A greeting-only SMTP server that answers like Exchange 2010's receive connector.

CONN-07 only needs what a sender sees before any mail moves: the 220 banner, the EHLO extensions
and whether STARTTLS works. So this server speaks exactly that much (EHLO/HELO, STARTTLS, RSET,
NOOP, QUIT) and answers 502 to everything else; it never accepts a message.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Sequence
from types import TracebackType

from cas_conformance.errors import LabError
from cas_conformance.lab.net import bind_tcp, ensure_loopback

_MAX_LINE = 4096
_SIZE_LIMIT = 37748736  # Exchange 2010's default receive connector limit (36 MB)


class SmtpServer:
    """Listen on every address in *addresses* on one port; ``stats`` counts connections per address."""

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        hostname: str,
        port: int = 0,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        self.addresses = [ensure_loopback(a) for a in addresses]
        if not self.addresses:
            raise LabError("SmtpServer needs at least one address")
        self.hostname = hostname
        self.tls_context = tls_context
        self._requested_port = port
        self.port = 0
        self._listeners: list[socket.socket] = []
        self._stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sessions: dict[_SmtpSession, threading.Thread] = {}
        self._wake_r, self._wake_w = socket.socketpair()

    @property
    def stats(self) -> Counter[str]:
        """A snapshot: local address -> connections accepted."""
        with self._lock:
            return Counter(self._stats)

    def start(self) -> SmtpServer:
        if self._thread is not None:
            raise LabError("SmtpServer already started")
        self._listeners = bind_tcp(self.addresses, self._requested_port)
        self.port = self._listeners[0].getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"lab-smtp-{self.port}", daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> None:
        """Stop promptly, join every thread, then re-raise the first error a server thread hit."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            sessions = dict(self._sessions)
            for session in sessions:
                # Shut the connection down by its descriptor: a STARTTLS may be swapping the socket
                # object at this very moment (the descriptor stays the same), and a session still
                # listed here has not closed it yet (it leaves the list, under this lock, first).
                with contextlib.suppress(OSError):
                    twin = socket.fromfd(session.fd, socket.AF_INET, socket.SOCK_STREAM)
                    twin.shutdown(socket.SHUT_RDWR)
                    twin.close()
        for thread in sessions.values():
            thread.join(timeout=5)
        for sock in (*self._listeners, self._wake_r, self._wake_w):
            sock.close()
        self.check()

    def check(self) -> None:
        if self._errors:
            raise LabError(f"lab SMTP server failed: {self._errors[0]!r}") from self._errors[0]

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        selector = selectors.DefaultSelector()
        for listener in self._listeners:
            selector.register(listener, selectors.EVENT_READ, "listener")
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._ready.set()
        try:
            while not self._stopping.is_set():
                for key, _mask in selector.select():
                    if key.data == "listener" and isinstance(key.fileobj, socket.socket):
                        self._accept(key.fileobj)
        except Exception as exc:
            self._errors.append(exc)
        finally:
            selector.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _peer = listener.accept()
        except OSError:
            return  # the client gave up between SYN and accept: nothing to serve
        try:
            session = _SmtpSession(self, conn)
        except OSError:
            conn.close()  # gone before the greeting
            return
        thread = threading.Thread(target=self._session, args=(session,), name="lab-smtp-session", daemon=True)
        with self._lock:
            self._stats[conn.getsockname()[0]] += 1
            self._sessions[session] = thread
        thread.start()

    def _session(self, session: _SmtpSession) -> None:
        try:
            session.run()
        except (OSError, EOFError):
            pass  # the client hung up, reset, or failed its TLS handshake: a client-side outcome
        except Exception as exc:
            self._errors.append(exc)
        finally:
            with self._lock:
                self._sessions.pop(session, None)
            session.close()


class _SmtpSession:
    """One client conversation, line by line."""

    def __init__(self, server: SmtpServer, conn: socket.socket) -> None:
        self.server = server
        self.raw = conn
        self.fd = conn.fileno()
        self.sock: socket.socket = conn
        self.reader = conn.makefile("rb")
        self.in_tls = False
        self.peer = str(conn.getpeername()[0])

    def close(self) -> None:
        self.reader.close()
        self.sock.close()
        self.raw.close()

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode("ascii"))

    def run(self) -> None:
        self.send(f"220 {self.server.hostname} Microsoft ESMTP MAIL Service ready")
        while True:
            line = self.reader.readline(_MAX_LINE)
            if not line:
                return
            text = line.decode("latin-1").rstrip("\r\n")
            verb, _, argument = text.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                self.send("221 2.0.0 Service closing transmission channel")
                return
            if verb == "EHLO":
                self.send(*self._ehlo_lines(argument.strip()))
            elif verb == "HELO":
                self.send(f"250 {self.server.hostname} Hello [{self.peer}]")
            elif verb == "RSET":
                self.send("250 2.0.0 Resetting")
            elif verb == "NOOP":
                self.send("250 2.0.0 OK")
            elif verb == "STARTTLS" and self.server.tls_context is not None and not self.in_tls:
                self._starttls(self.server.tls_context)
            else:
                self.send("502 5.3.3 Command not implemented")

    def _ehlo_lines(self, client: str) -> list[str]:
        features = [f"SIZE {_SIZE_LIMIT}", "PIPELINING"]
        if self.server.tls_context is not None and not self.in_tls:
            features.append("STARTTLS")
        features.append("8BITMIME")
        first = f"{self.server.hostname} Hello [{self.peer}]"
        del client  # Exchange greets by the client's address, not its claimed name
        lines = [first, *features]
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    def _starttls(self, context: ssl.SSLContext) -> None:
        self.send("220 2.0.0 SMTP server ready")
        self.reader.close()
        # wrap_socket takes over the descriptor; handshake after the swap so stop() can shut it down
        self.sock = context.wrap_socket(self.raw, server_side=True, do_handshake_on_connect=False)
        self.sock.do_handshake()
        self.reader = self.sock.makefile("rb")
        self.in_tls = True

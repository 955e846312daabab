"""The lifecycle every lab server shares: bound loopback sockets, one serving thread, a stop event.

:class:`Listener` binds its sockets (by default one listening TCP socket per address, all on one
port, see :func:`~cas_conformance.lab.servers.net.bind_tcp`), serves them from one selector thread that a
socketpair wakes on :meth:`~Listener.stop`, and by default gives each accepted connection a thread
of its own running :meth:`~Listener._serve_connection`. Stopping is prompt and idempotent: the
selector thread ends, every open connection is shut down (which unblocks the thread reading it),
the connection threads are joined within :data:`STOP_BUDGET`, every socket is closed, and then the
first exception a server thread recorded is raised as a LabError (:meth:`~Listener.check`).

Each server keeps its protocol code in its own module and overrides only the hooks it needs.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, TypeVar

from cas_conformance.errors import LabError
from cas_conformance.lab.servers.net import bind_tcp, ensure_loopback, join_within

log = logging.getLogger(__name__)

STOP_BUDGET = 5.0  # seconds a stop waits for busy connection threads, and start for the serving thread
_Self = TypeVar("_Self", bound="Listener")
_Socket = TypeVar("_Socket", bound=socket.socket)


class Connection:
    """One accepted connection. ``sock`` is the socket to speak on: the accepted one, or the TLS
    socket :meth:`upgrade` put in its place (same descriptor, so stop still reaches it)."""

    def __init__(self, listener: Listener, sock: socket.socket, peer: tuple[str, int]) -> None:
        self.listener = listener
        self.sock = sock
        self.peer = peer
        self.local_address = str(sock.getsockname()[0])

    def upgrade(self, wrap: Callable[[socket.socket], _Socket]) -> _Socket:
        """Replace ``sock`` by ``wrap(sock)`` (e.g. an unshaken TLS socket) unless the listener is
        stopping (then ConnectionAbortedError, which ends the connection quietly)."""
        with self.listener._lock:
            if self.listener._stopping.is_set():
                raise ConnectionAbortedError("the lab server is stopping")
            wrapped = wrap(self.sock)
            self.sock = wrapped
        return wrapped

    def cut(self) -> None:
        """Shut the connection down in both directions (a plain shutdown, also for a TLS socket)."""
        with contextlib.suppress(OSError):  # already closed by its own thread or by the peer
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


class Listener:
    """Serve *addresses* (loopback only) on one port; ``port=0`` lets the kernel choose it."""

    kind: ClassVar[str] = "lab"  # the protocol's name in thread names and errors

    def __init__(self, addresses: list[str], *, port: int = 0) -> None:
        if not addresses:
            raise LabError(f"the lab {self.kind} server needs at least one address")
        self.addresses = [ensure_loopback(a) for a in addresses]
        self._requested_port = port
        self._port: int | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()  # guards the sets below and the errors
        self._errors: list[BaseException] = []
        self._connections: set[Connection] = set()
        self._threads: set[threading.Thread] = set()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._loop: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise LabError(
                f"the lab {self.kind} server is not started: call start() or use it in a with block"
            )
        return self._port

    def start(self: _Self) -> _Self:
        if self._loop is not None:
            raise LabError(f"the lab {self.kind} server was already started")
        self._sockets = self._bind()
        self._port = self._sockets[0].getsockname()[1]
        self._wake = socket.socketpair()
        self._loop = threading.Thread(
            target=self._serve_loop, name=f"lab-{self.kind.lower()}-{self._port}", daemon=True
        )
        self._loop.start()
        if not self._ready.wait(STOP_BUDGET):
            self._shutdown()
            raise LabError(f"the lab {self.kind} server on port {self._port} did not become ready")
        try:
            self.check()
        except LabError:  # the serving thread failed before serving: nothing is left open
            self._shutdown()
            raise
        return self

    def stop(self) -> None:
        """Stop promptly (idempotent), then re-raise the first error a server thread recorded."""
        self._shutdown()
        self.check()

    def check(self) -> None:
        """Raise the first exception a server thread recorded, as a LabError."""
        with self._lock:
            first = self._errors[0] if self._errors else None
        if first is not None:
            raise LabError(f"the lab {self.kind} server on port {self._port} failed: {first!r}") from first

    def record_error(self, exc: BaseException) -> None:
        log.error("lab %s server on port %s: %r", self.kind, self._port, exc)
        with self._lock:
            self._errors.append(exc)

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.stop()
        else:  # the with block's own exception goes on; a server error would only hide it
            self._shutdown()

    def _shutdown(self) -> None:
        if self._loop is None or self._stopping.is_set():
            return
        self._stopping.set()
        assert self._wake is not None
        self._wake[1].send(b"x")
        self._loop.join(STOP_BUDGET)
        with self._lock:  # under the lock: no connection is upgrading its socket meanwhile
            threads = list(self._threads)
            for connection in self._connections:
                connection.cut()
        self._release_waiters()
        join_within(threads, STOP_BUDGET)  # a thread still busy after the budget ends on its own
        for sock in (*self._sockets, *self._wake):
            sock.close()
        self._stopped()

    # -- hooks -----------------------------------------------------------------------------------
    def _bind(self) -> list[socket.socket]:
        """The sockets to serve; the first one's port is :attr:`port`."""
        return bind_tcp(self.addresses, self._requested_port)

    def _readable(self, sock: socket.socket) -> None:
        """*sock* (one of :meth:`_bind`'s) is readable: by default accept a connection."""
        try:
            conn, peer = sock.accept()
        except OSError:  # the client gave up between SYN and accept, or nothing was pending
            return
        conn.setblocking(True)
        self._accepted(conn, (str(peer[0]), int(peer[1])))

    def _accepted(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        """Serve *conn* on a thread of its own; closed at once when the server is stopping."""
        connection = Connection(self, conn, peer)
        thread = threading.Thread(
            target=self._run_connection, args=(connection,), name=f"lab-{self.kind.lower()}-conn", daemon=True
        )
        with self._lock:
            if self._stopping.is_set():
                conn.close()
                return
            # a thread stays in the set until it has ended (it cannot remove itself: it would
            # still be running, unjoined, after a stop), so the set is pruned here instead
            self._threads = {t for t in self._threads if t.is_alive()}
            self._connections.add(connection)
            self._threads.add(thread)
        thread.start()

    def _serve_connection(self, connection: Connection) -> None:
        """Speak the protocol on *connection* until it ends (closing is the base's job)."""
        raise NotImplementedError

    def _release_waiters(self) -> None:
        """Wake what connection threads wait on besides their sockets (called before joining them)."""

    def _stopped(self) -> None:
        """Release what the server holds besides its sockets (called once, at the end of a stop)."""

    # -- serving ---------------------------------------------------------------------------------
    def _serve_loop(self) -> None:
        assert self._wake is not None
        wake = self._wake[0]
        try:
            with selectors.DefaultSelector() as selector:
                for sock in self._sockets:
                    if sock.type == socket.SOCK_STREAM:  # an accept after select may find the client gone
                        sock.setblocking(False)
                    # a datagram socket stays blocking: its replies (sendto) are never dropped
                    selector.register(sock, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                self._ready.set()
                while not self._stopping.is_set():
                    for key, _events in selector.select():
                        if key.fileobj is not wake and not self._stopping.is_set():
                            self._readable(key.fileobj)  # type: ignore[arg-type]
        except Exception as exc:
            self.record_error(exc)
        finally:
            self._ready.set()

    def _run_connection(self, connection: Connection) -> None:
        try:
            self._serve_connection(connection)
        except OSError as exc:  # resets, timeouts, failed handshakes, a stop: the client's side of it
            log.debug("lab %s connection from %s ended: %s", self.kind, connection.peer[0], exc)
        except Exception as exc:
            self.record_error(exc)
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.sock.close()

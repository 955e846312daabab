"""How every channel reaches a host: connect_to rules, then the run's resolver, then TCP.

Channels never call ``socket.create_connection`` or let requests resolve names themselves: a name
must resolve through the inventory's resolvers (the same answers the DNS checks judge, cached once
per run) and a ``connect_to`` rule may send the connection elsewhere (the lab's ports, or a new
server before a DNS cutover) while TLS SNI, the certificate name check and the HTTP ``Host`` header
keep the original name. :meth:`Dialer.mount` wires this into a requests session - including
pywinrm's long-lived one - by giving urllib3 connection classes whose only change is how the
socket is opened.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager

from cas_conformance.channels.connect_to import ConnectToRule, apply_connect_to
from cas_conformance.channels.dns import Resolver, is_ip_literal
from cas_conformance.errors import CollectionError

#: held while pywinrm or pypsrp build a requests session: ``merge_environment_settings`` sets and
#: deletes ``os.environ["no_proxy"]`` around its look-up (requests' ``set_environ``), which races
#: between threads (one deletes what another restores: KeyError 'no_proxy')
SESSION_BUILD_LOCK = threading.Lock()

TlsObserver = Callable[[str, int, ssl.SSLSocket], None]


class Dialer:
    """Open TCP connections by the run's rules: ``connect_to`` first, then DNS through *resolver*.

    With ``resolver=None`` names go to the operating system (``getaddrinfo``).
    """

    def __init__(
        self,
        resolver: Resolver | None,
        rules: Sequence[ConnectToRule] = (),
        *,
        on_tls: TlsObserver | None = None,
    ) -> None:
        self.resolver = resolver
        self.rules = tuple(rules)
        #: called with (host, port, socket) after each TLS handshake of an HTTPS connection, so a
        #: caller can read the peer's chain from the connection it already has
        self.on_tls = on_tls

    def target(self, host: str, port: int) -> tuple[str, int]:
        """The (IP, port) a connection for *host*:*port* goes to; CollectionError if no address."""
        to_host, to_port = apply_connect_to(self.rules, host, port)
        to_host = to_host.strip("[]")
        if is_ip_literal(to_host):
            return to_host, to_port
        if self.resolver is None:
            try:
                infos = socket.getaddrinfo(to_host, to_port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise CollectionError(host, "dns", f"{to_host} does not resolve ({exc})") from exc
            return str(infos[0][4][0]), to_port
        answer = self.resolver.resolve(to_host, "A")
        if not answer.ok:
            reason = f"{to_host} does not resolve ({answer.status} from {answer.resolver})"
            if answer.status in ("TIMEOUT", "ERROR", "SERVFAIL") and answer.detail:
                reason += f": {answer.detail}"
            raise CollectionError(host, "dns", reason)
        return answer.records[0], to_port

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A connected TCP socket for *host*:*port*.

        Raises CollectionError when the name does not resolve and OSError (``TimeoutError``,
        ``ConnectionRefusedError``, ...) when the connection fails, as ``socket`` does.
        """
        address = self.target(host, port)
        return socket.create_connection(address, timeout)

    def mount(self, session: requests.Session) -> None:
        """Route every http:// and https:// request of *session* through this dialer."""
        adapter = DialerAdapter(self)
        session.mount("http://", adapter)
        session.mount("https://", adapter)

    def session(self) -> requests.Session:
        """A fresh session using this dialer, ignoring proxy settings from the environment."""
        session = requests.Session()
        session.trust_env = False
        self.mount(session)
        return session


def _open_through(dialer: Dialer, conn: HTTPConnection) -> socket.socket:
    """urllib3's ``_new_conn`` with the dialer opening the socket; same exceptions as urllib3's."""
    # urllib3 may still hold its "default" sentinel here: that means the socket module's default
    timeout = float(conn.timeout) if isinstance(conn.timeout, (int, float)) else socket.getdefaulttimeout()
    try:
        sock = dialer.connect(conn.host, conn.port, timeout)
    except CollectionError as exc:
        raise NameResolutionError(conn.host, conn, socket.gaierror(socket.EAI_NONAME, exc.reason)) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={timeout})"
        ) from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
    for level, option, value in conn.socket_options or ():
        sock.setsockopt(level, option, value)
    return sock


class _DialerHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, dialer: Dialer, **kwargs: Any) -> None:
        self._dialer = dialer
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _open_through(self._dialer, self)


class _DialerHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, dialer: Dialer, **kwargs: Any) -> None:
        self._dialer = dialer
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _open_through(self._dialer, self)

    def connect(self) -> None:
        super().connect()
        if self._dialer.on_tls is not None and isinstance(self.sock, ssl.SSLSocket):
            self._dialer.on_tls(self.host, self.port, self.sock)


class _DialerHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _DialerHTTPConnection


class _DialerHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _DialerHTTPSConnection


class _DialerPoolManager(PoolManager):
    """A PoolManager whose pools build dialer connections (the dialer rides in ``conn_kw``)."""

    def __init__(self, dialer: Dialer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._dialer = dialer
        self.pool_classes_by_scheme = {"http": _DialerHTTPConnectionPool, "https": _DialerHTTPSConnectionPool}

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        context = dict(self.connection_pool_kw if request_context is None else request_context)
        context["dialer"] = self._dialer
        return super()._new_pool(scheme, host, port, context)


class DialerAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections open their sockets through a :class:`Dialer`."""

    def __init__(self, dialer: Dialer, **kwargs: Any) -> None:
        self.dialer = dialer  # set first: HTTPAdapter.__init__ calls init_poolmanager
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _DialerPoolManager(
            self.dialer, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Refuse a request that would go through a proxy: it would bypass the dialer's rules."""
        if request.url and proxies and select_proxy(request.url, dict(proxies)):
            host = urlsplit(request.url).hostname or "?"
            raise CollectionError(
                host,
                "http",
                "a proxy is configured for this request, but the dialer connects directly; "
                "clear the session's proxies (or trust_env) and use connect_to rules instead",
            )
        return super().send(request, stream, timeout, verify, cert, proxies)

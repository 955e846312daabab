"""How the run's HTTP probes are made: started as soon as a server's facts name an endpoint, each
host's URLs in turn over one keep-alive connection, and the two kinds of HTTPS session (unverified
for behaviour probes, identity-checked where a password is sent)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

from cas_conformance.channels.dialer import DialerAdapter
from cas_conformance.channels.http import HttpProbe, probe
from cas_conformance.channels.tls_client import accept_old_versions
from cas_conformance.evidence.model import Endpoint

_X509_V_FLAG_NO_CHECK_TIME = 0x200000


class EndpointProbes:
    """Endpoint probes started as soon as a server's facts name them, so the names of servers that
    answered early are probed while slower servers are still being collected. Each URL is probed
    once; a host's URLs run one task at a time, in turn over its one keep-alive connection."""

    def __init__(self, pool: ThreadPoolExecutor, session: requests.Session, timeout: float) -> None:
        self._pool, self._session, self._timeout = pool, session, timeout
        self._host_locks: dict[str, threading.Lock] = {}
        self._submitted: set[str] = set()
        self._tasks: list[Future[list[tuple[str, HttpProbe]]]] = []

    def add(self, endpoints: Iterable[Endpoint]) -> None:
        """Start probing the URLs not asked for yet (called from the gathering thread only)."""
        by_host: dict[str, list[str]] = {}
        for endpoint in endpoints:
            if endpoint.host and endpoint.url not in self._submitted:
                self._submitted.add(endpoint.url)
                by_host.setdefault(endpoint.host, []).append(endpoint.url)
        for host, urls in by_host.items():
            lock = self._host_locks.setdefault(host, threading.Lock())
            self._tasks.append(self._pool.submit(self._probe_in_turn, lock, urls))

    def _probe_in_turn(self, lock: threading.Lock, urls: list[str]) -> list[tuple[str, HttpProbe]]:
        with lock:
            return [(url, probe(self._session, url, timeout=self._timeout)) for url in urls]

    def results(self) -> dict[str, HttpProbe]:
        """Every probe's outcome, once all have finished (each bounded by its own timeout)."""
        return {url: result for task in self._tasks for url, result in task.result()}

    @property
    def hosts(self) -> int:
        return len(self._host_locks)


class UnverifiedAdapter(DialerAdapter):
    """One prepared context for every probe connection (urllib3 would otherwise load the system
    trust store again for each connection, ~20 ms each, for a check it then does not make)."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        accept_old_versions(context)  # Exchange 2010 on Windows 2008 R2 may speak TLS 1.0 only
        super().init_poolmanager(connections, maxsize, block, ssl_context=context, **pool_kwargs)


class IdentityAdapter(DialerAdapter):
    """Verifies the chain and the host name, not the validity dates (OpenSSL NO_CHECK_TIME)."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.verify_flags |= _X509_V_FLAG_NO_CHECK_TIME
        accept_old_versions(context)  # TLS 1.0 as 2008 R2 speaks it; weak signatures are CONN-03's verdict
        super().init_poolmanager(connections, maxsize, block, ssl_context=context, **pool_kwargs)

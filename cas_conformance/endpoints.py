"""The URLs a run probes and how: which endpoints the servers' facts and the inventory publish,
the probes that run as soon as a server's facts name them, and the two kinds of HTTPS session
(unverified for behaviour probes, identity-checked where a password is sent)."""

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
from cas_conformance.facts import VdirKind
from cas_conformance.inventory import Inventory
from cas_conformance.world import Endpoint, ServerRecord, World, host_of

PUBLISHED_GROUP = "published"
_X509_V_FLAG_NO_CHECK_TIME = 0x200000
STANDARD_PATHS = {
    "owa": "/owa",
    "ews": "/EWS/Exchange.asmx",
    "activesync": "/Microsoft-Server-ActiveSync",
    "autodiscover": "/Autodiscover/Autodiscover.xml",
    "rpc": "/rpc/rpcproxy.dll",
    "oab": "/OAB",
}
_PROBED_VDIRS = {
    VdirKind.OWA: "owa",
    VdirKind.EWS: "ews",
    VdirKind.ACTIVESYNC: "activesync",
    VdirKind.OAB: "oab",
}


def published_hosts(inventory: Inventory) -> list[str]:
    if PUBLISHED_GROUP not in inventory.groups:
        return []
    return [h.name.lower() for h in inventory.hosts_in(PUBLISHED_GROUP)]


def server_endpoints(record: ServerRecord) -> list[Endpoint]:
    """The URLs one collected server's virtual directories and Outlook Anywhere publish."""
    found: list[Endpoint] = []
    if record.facts is None:
        return found
    for vdir in record.facts.vdirs:
        kind = _PROBED_VDIRS.get(vdir.kind)
        if kind is None:
            continue
        if vdir.external_url:
            found.append(Endpoint(vdir.external_url, kind, vdir.external_auth, vdir.identity, record.host))
        if vdir.internal_url:
            found.append(Endpoint(vdir.internal_url, kind, vdir.internal_auth, vdir.identity, record.host))
    for oa in record.facts.outlook_anywhere:
        if oa.external_hostname:
            url = f"https://{oa.external_hostname.lower()}{STANDARD_PATHS['rpc']}"
            found.append(Endpoint(url, "rpc", oa.iis_authentication_methods, oa.identity, record.host))
    return found


def all_endpoints(world: World, smtp_domains: Iterable[str]) -> dict[str, Endpoint]:
    """Every URL the connectivity checks probe: the servers', Autodiscover for each SMTP domain,
    and the standard paths of published names no server's facts mention."""
    endpoints: dict[str, Endpoint] = {}

    def add(endpoint: Endpoint) -> None:
        if endpoint.host and endpoint.url not in endpoints:
            endpoints[endpoint.url] = endpoint

    for record in world.servers.values():
        for endpoint in server_endpoints(record):
            add(endpoint)
    for domain in smtp_domains:
        add(Endpoint(f"https://autodiscover.{domain}{STANDARD_PATHS['autodiscover']}", "autodiscover"))
    known_hosts = {e.host for e in endpoints.values()}
    for name in published_hosts(world.inventory):
        if name in known_hosts:
            continue
        for kind, path in STANDARD_PATHS.items():
            add(Endpoint(f"https://{name}{path}", kind))
    return endpoints


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


def failback_hosts(world: World) -> list[str]:
    hosts = []
    for record in world.servers.values():
        if record.facts is None:
            continue
        for vdir in record.facts.vdirs:
            if vdir.kind is VdirKind.OWA and vdir.failback_url:
                hosts.append(host_of(vdir.failback_url))
    return sorted({h for h in hosts if h})


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

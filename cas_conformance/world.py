"""Everything one run gathered, and the questions checks ask of it.

A ``World`` is filled once per run (by ``gather`` from the network, or from a saved facts file)
and then only read: checks are pure functions of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TypeVar
from urllib.parse import urlsplit

from cryptography import x509

from cas_conformance.channels.dns import DnsAnswer, Resolver, is_ip_literal
from cas_conformance.channels.http import HttpProbe
from cas_conformance.channels.revocation import RevocationResult
from cas_conformance.channels.smtp import SmtpProbe
from cas_conformance.channels.tls import TlsHandshake
from cas_conformance.errors import CollectionError, FactsUnavailable
from cas_conformance.facts import (
    ClientAccessArray,
    ExchangeOrganisationFacts,
    ExchangeServer,
    ExchangeServerFacts,
    MailboxDatabase,
    PublicFolderDatabase,
    ServerFacts,
)
from cas_conformance.inventory import Inventory
from cas_conformance.settings import HostSettings, RunSettings


@dataclass
class ServerRecord:
    """One inventory host reached over WinRM: its facts, or why there are none."""

    host: str
    settings: HostSettings
    facts: ServerFacts | None = None
    error: CollectionError | None = None
    raw_output: str | None = None
    seconds: float = 0.0

    def require(self) -> ServerFacts:
        if self.facts is None:
            reason = self.error.reason if self.error else "not collected"
            channel = self.error.channel if self.error else "winrm"
            raise FactsUnavailable(f"{self.host}: could not collect facts over {channel}: {reason}")
        return self.facts


@dataclass(frozen=True)
class Endpoint:
    """A URL the connectivity checks probe, with what its virtual directory is configured for."""

    url: str
    kind: str  # owa, ews, activesync, autodiscover, rpc, oab
    auth: tuple[str, ...] = ()
    source: str = "published"  # the virtual directory's identity, or "published"
    server: str = ""  # the inventory host whose virtual directory it is

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower() if url else ""


@dataclass(frozen=True)
class _OrgView:
    servers: list[ExchangeServer]
    server_by_name: dict[str, ExchangeServer]
    databases: list[MailboxDatabase]
    public_folder_databases: list[PublicFolderDatabase]
    arrays: dict[str, ClientAccessArray]
    pf_servers: frozenset[str]


@dataclass
class World:
    inventory: Inventory
    run: RunSettings
    servers: dict[str, ServerRecord]
    resolver: Resolver
    names: tuple[str, ...] = ()
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    tls: dict[str, TlsHandshake] = field(default_factory=dict)
    revocation: dict[str, RevocationResult] = field(default_factory=dict)
    http: dict[str, HttpProbe] = field(default_factory=dict)
    smtp: dict[str, SmtpProbe] = field(default_factory=dict)
    autodiscover: dict[str, HttpProbe] = field(default_factory=dict)
    trust_roots: list[x509.Certificate] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    probe_user: str | None = None
    #: what Exchange remote PowerShell answered (kept beside the joined facts for the facts file)
    exchange: ExchangeOrganisationFacts = field(default_factory=ExchangeOrganisationFacts)
    exchange_servers: dict[str, ExchangeServerFacts] = field(default_factory=dict)

    # --- organisation-wide view, merged from every server that answered -------------------
    def collected(self) -> list[ServerFacts]:
        return [r.facts for r in self.servers.values() if r.facts is not None]

    def org_servers(self) -> list[ExchangeServer]:
        return self._org.servers

    def databases(self) -> list[MailboxDatabase]:
        return self._org.databases

    def public_folder_databases(self) -> list[PublicFolderDatabase]:
        return self._org.public_folder_databases

    def arrays(self) -> list[ClientAccessArray]:
        return list(self._org.arrays.values())

    def org_server(self, name: str) -> ExchangeServer | None:
        return self._org.server_by_name.get(name.lower().rstrip("."))

    def array(self, fqdn: str) -> ClientAccessArray | None:
        return self._org.arrays.get(fqdn.lower().rstrip("."))

    def hosts_pf_database(self, server_name: str) -> bool:
        return server_name.lower() in self._org.pf_servers

    @cached_property
    def _org(self) -> _OrgView:
        """The organisation merged once from every collected server (the World is read-only
        once the servers are collected, and checks ask these questions thousands of times)."""
        collected = self.collected()
        servers = _merge(s.servers for s in collected)
        by_name: dict[str, ExchangeServer] = {}
        for server in servers:
            by_name.setdefault(server.name.lower(), server)
            by_name.setdefault(server.fqdn.lower(), server)
        arrays: dict[str, ClientAccessArray] = {}
        for facts in collected:
            for array in facts.arrays:
                arrays.setdefault(array.fqdn.lower().rstrip("."), array)
        pf = _merge(s.public_folder_databases for s in collected)
        return _OrgView(
            servers,
            by_name,
            _merge(s.databases for s in collected),
            pf,
            arrays,
            frozenset(db.server.lower() for db in pf),
        )

    @cached_property
    def _short_names(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for host in self.servers:
            short = host.split(".", 1)[0].lower()
            counts[short] = counts.get(short, 0) + 1
        return counts

    def label(self, host: str) -> str:
        """A short, readable test id for an inventory host: its first label when that is unique."""
        if is_ip_literal(host):
            return host
        short = host.split(".", 1)[0]
        return short if self._short_names.get(short.lower(), 0) == 1 else host

    def dns(self, name: str, rdtype: str = "A") -> DnsAnswer:
        return self.resolver.resolve(name, rdtype)


_Named = TypeVar("_Named", ExchangeServer, MailboxDatabase, PublicFolderDatabase)


def _merge(groups: Iterable[Iterable[_Named]]) -> list[_Named]:
    """Union by name, first seen wins: every server reports the same organisation."""
    seen: dict[str, _Named] = {}
    for group in groups:
        for item in group:
            seen.setdefault(item.name.lower(), item)
    return list(seen.values())

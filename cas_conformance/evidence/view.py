"""The questions checks ask of one run's Evidence.

An ``EvidenceView`` is built once from the frozen :class:`~cas_conformance.evidence.model.Evidence` (by
``gather`` from the network, or from a saved facts file) and only read: checks are pure functions
of it. It opens no socket: a DNS question no check declared is an error, never a query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TypeVar

from cryptography import x509

from cas_conformance.domain.facts import (
    ClientAccessArray,
    ExchangeOrganisationFacts,
    ExchangeServer,
    ExchangeServerFacts,
    MailboxDatabase,
    PublicFolderDatabase,
    ServerFacts,
)
from cas_conformance.domain.records.dns import DnsAnswer, is_ip_literal
from cas_conformance.domain.records.http import HttpProbe
from cas_conformance.domain.records.revocation import RevocationResult
from cas_conformance.domain.records.smtp import SmtpProbe
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.evidence.endpoints import all_endpoints, published_hosts
from cas_conformance.evidence.model import Endpoint as Endpoint
from cas_conformance.evidence.model import Evidence
from cas_conformance.evidence.model import Needs as Needs
from cas_conformance.evidence.model import ServerRecord as ServerRecord
from cas_conformance.evidence.model import host_of as host_of
from cas_conformance.evidence.model import resolve as resolve
from cas_conformance.inventory import Inventory
from cas_conformance.settings import RunSettings


@dataclass(frozen=True)
class _OrgView:
    servers: list[ExchangeServer]
    server_by_name: dict[str, ExchangeServer]
    databases: list[MailboxDatabase]
    public_folder_databases: list[PublicFolderDatabase]
    arrays: dict[str, ClientAccessArray]
    pf_servers: frozenset[str]


@dataclass(frozen=True, eq=False)
class EvidenceView:
    evidence: Evidence

    def __repr__(self) -> str:
        return f"EvidenceView({self.evidence!r})"

    # --- the evidence, as the checks read it ------------------------------------------------
    @property
    def inventory(self) -> Inventory:
        return self.evidence.inventory

    @property
    def run(self) -> RunSettings:
        return self.evidence.run

    @property
    def now(self) -> datetime:
        return self.evidence.now

    @property
    def servers(self) -> Mapping[str, ServerRecord]:
        return self.evidence.os

    @property
    def exchange(self) -> ExchangeOrganisationFacts:
        return self.evidence.exchange.organisation

    @property
    def exchange_servers(self) -> Mapping[str, ExchangeServerFacts]:
        return self.evidence.exchange.servers

    @property
    def tls(self) -> Mapping[str, TlsHandshake]:
        return self.evidence.tls.handshakes

    @property
    def trust_roots(self) -> tuple[x509.Certificate, ...]:
        return self.evidence.tls.trust_roots

    @property
    def revocation(self) -> Mapping[str, RevocationResult]:
        return self.evidence.revocation

    @property
    def http(self) -> Mapping[str, HttpProbe]:
        return self.evidence.http.probes

    @property
    def autodiscover(self) -> Mapping[str, HttpProbe]:
        return self.evidence.http.autodiscover

    @property
    def probe_user(self) -> str | None:
        return self.evidence.http.probe_user

    @property
    def probe_email(self) -> str | None:
        return self.evidence.http.probe_email

    @property
    def smtp(self) -> Mapping[str, SmtpProbe]:
        return self.evidence.smtp

    def dns(self, name: str, rdtype: str = "A") -> DnsAnswer:
        """The answer gathered for a question a check declared (FactsUnavailable otherwise)."""
        return self.evidence.dns.answer(name, rdtype)

    # --- what the facts publish (pure functions of the Exchange/OS evidence and inventory) ----
    @cached_property
    def smtp_domains(self) -> tuple[str, ...]:
        """The mail domains: ``smtp_domains``, else the servers' DNS domains."""
        return tuple(self.run.smtp_domains) or tuple(
            sorted({r.settings.dns_domain for r in self.servers.values() if r.settings.dns_domain})
        )

    @cached_property
    def endpoints(self) -> Mapping[str, Endpoint]:
        return all_endpoints(self.servers.values(), self.inventory, self.smtp_domains)

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Every published name: the endpoints' hosts and the inventory's ``[published]`` hosts."""
        return tuple(sorted({e.host for e in self.endpoints.values()} | set(published_hosts(self.inventory))))

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
        """The organisation merged once from every collected server (checks ask these questions
        thousands of times)."""
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


_Named = TypeVar("_Named", ExchangeServer, MailboxDatabase, PublicFolderDatabase)


def _merge(groups: Iterable[Iterable[_Named]]) -> list[_Named]:
    """Union by name, first seen wins: every server reports the same organisation."""
    seen: dict[str, _Named] = {}
    for group in groups:
        for item in group:
            seen.setdefault(item.name.lower(), item)
    return list(seen.values())

"""The frozen Evidence of one run: data only (no resolver, no socket, no session), built once by
gathering or loading a facts file, then only read.

Each part belongs to one evidence module (``exchange``, ``os``, ``dns``, ``tls``, ``revocation``,
``http``, ``smtp``), which fetches, saves and loads it; :class:`Needs` is what the checks declare
they will read of the network parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from cas_conformance.domain.facts import (
    EXCHANGE_SERVER_SECTIONS,
    ExchangeOrganisationFacts,
    ExchangeServerFacts,
    SectionError,
    ServerFacts,
)
from cas_conformance.domain.records.dns import DnsAnswer, Question, question
from cas_conformance.domain.records.http import HttpProbe
from cas_conformance.domain.records.revocation import RevocationResult
from cas_conformance.domain.records.smtp import SmtpProbe
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.errors import CollectionError, FactsUnavailable
from cas_conformance.inventory import Inventory
from cas_conformance.settings import HostSettings, RunSettings

#: where each kind of Exchange 2010 endpoint answers on a published name
STANDARD_PATHS = {
    "owa": "/owa",
    "ews": "/EWS/Exchange.asmx",
    "activesync": "/Microsoft-Server-ActiveSync",
    "autodiscover": "/Autodiscover/Autodiscover.xml",
    "rpc": "/rpc/rpcproxy.dll",
    "oab": "/OAB",
}


def frozen_map(items: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = ()) -> Mapping[Any, Any]:
    """A read-only copy (the evidence is never changed once built)."""
    return MappingProxyType(dict(items))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower() if url else ""


@dataclass(frozen=True)
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
        return host_of(self.url)


@dataclass(frozen=True)
class Needs:
    """What checks will read of the network evidence (gather fetches the union of every check's)."""

    resolve: frozenset[Question] = frozenset()
    handshake: frozenset[str] = frozenset()  # names whose TLS chain on port 443 is read
    probe: tuple[Endpoint, ...] = ()  # URLs probed without credentials
    smtp: frozenset[str] = frozenset()  # mail domains whose first MX host is probed on port 25
    autodiscover: frozenset[str] = frozenset()  # mail domains asked with the test mailbox

    def __or__(self, other: Needs) -> Needs:
        return Needs.union((self, other))

    @staticmethod
    def union(declared: Iterable[Needs]) -> Needs:
        """Everything any of *declared* needs, built in one pass (thousands of servers declare)."""
        resolve: set[Question] = set()
        handshake: set[str] = set()
        probes: dict[str, Endpoint] = {}
        smtp: set[str] = set()
        autodiscover: set[str] = set()
        for needs in declared:
            resolve |= needs.resolve
            handshake |= needs.handshake
            for endpoint in needs.probe:
                probes.setdefault(endpoint.url, endpoint)
            smtp |= needs.smtp
            autodiscover |= needs.autodiscover
        return Needs(
            frozenset(resolve),
            frozenset(handshake),
            tuple(probes.values()),
            frozenset(smtp),
            frozenset(autodiscover),
        )


def resolve(rdtype: str, names: Iterable[str]) -> frozenset[Question]:
    return frozenset(question(n, rdtype) for n in names if n)


@dataclass(frozen=True)
class ExchangeEvidence:
    organisation: ExchangeOrganisationFacts = field(default_factory=ExchangeOrganisationFacts)
    servers: Mapping[str, ExchangeServerFacts] = field(default_factory=frozen_map)

    def for_server(self, host: str) -> ExchangeServerFacts:
        return self.servers.get(host) or ExchangeServerFacts(
            errors=tuple(SectionError(s, "not asked") for s in EXCHANGE_SERVER_SECTIONS)
        )


@dataclass(frozen=True)
class DnsEvidence:
    """Every answer of the run; ``declared`` are the questions the checks may read."""

    answers: Mapping[Question, DnsAnswer] = field(default_factory=frozen_map)
    declared: frozenset[Question] = frozenset()

    def answer(self, name: str, rdtype: str) -> DnsAnswer:
        key = question(name, rdtype)
        if key not in self.declared:
            raise FactsUnavailable(
                f"DNS {key[1]} of {key[0]} was read but no check declared it in its needs, so it was "
                "not gathered for this run"
            )
        found = self.answers.get(key)
        if found is None:
            raise FactsUnavailable(f"DNS {key[1]} of {key[0]} was declared but not answered while gathering")
        return found


@dataclass(frozen=True)
class TlsEvidence:
    handshakes: Mapping[str, TlsHandshake] = field(default_factory=frozen_map)
    trust_roots: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True)
class HttpEvidence:
    probes: Mapping[str, HttpProbe] = field(default_factory=frozen_map)
    autodiscover: Mapping[str, HttpProbe] = field(default_factory=frozen_map)
    probe_user: str | None = None
    #: the address the Autodiscover request asked about (``<prefix>_EMAIL``, else the user name)
    probe_email: str | None = None


@dataclass(frozen=True)
class Evidence:
    """Everything one run gathered. ``os`` holds each server's record, its OS facts joined with its
    Exchange facts; the other parts are named after the module that owns them."""

    inventory: Inventory
    run: RunSettings
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    exchange: ExchangeEvidence = field(default_factory=ExchangeEvidence)
    os: Mapping[str, ServerRecord] = field(default_factory=frozen_map)
    dns: DnsEvidence = field(default_factory=DnsEvidence)
    tls: TlsEvidence = field(default_factory=TlsEvidence)
    revocation: Mapping[str, RevocationResult] = field(default_factory=frozen_map)
    http: HttpEvidence = field(default_factory=HttpEvidence)
    smtp: Mapping[str, SmtpProbe] = field(default_factory=frozen_map)

    def __repr__(self) -> str:
        # short: a test's traceback shows its arguments, and the whole organisation's evidence
        # rendered as text is megabytes at 2,000 servers
        return f"Evidence({len(self.os)} servers, {len(self.dns.answers)} DNS answers, gathered {self.now:%Y-%m-%d %H:%M:%S})"

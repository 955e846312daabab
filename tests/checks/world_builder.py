"""Hand-built evidence for the check unit tests: an organisation of Exchange servers whose facts
each test sets per server, turned into a frozen Evidence and its EvidenceView without any network (no
lab, no sockets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cas_conformance.checks import CHECKS, Finding
from cas_conformance.domain.facts import (
    ClientAccessArray,
    CollectorMeta,
    ExchangeCertificate,
    ExchangeServer,
    OutlookAnywhere,
    RpcClientAccess,
    SectionError,
    ServerFacts,
    VdirKind,
    VirtualDirectory,
    WinHttpSettings,
)
from cas_conformance.domain.records.dns import DnsAnswer
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.errors import CollectionError
from cas_conformance.evidence.model import (
    DnsEvidence,
    Evidence,
    HttpEvidence,
    TlsEvidence,
    frozen_map,
    question,
)
from cas_conformance.evidence.view import EvidenceView, ServerRecord
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab import Pki
from cas_conformance.settings import host_settings, run_settings

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
NEXT_YEAR = NOW.replace(year=2027)
SP3 = "Version 14.3 (Build 123.4)"
NAMES = ("mail.contoso.lab", "autodiscover.contoso.lab")
_PATHS = {
    VdirKind.OWA: ("owa", "/owa"),
    VdirKind.ECP: ("ecp", "/ecp"),
    VdirKind.EWS: ("EWS", "/EWS/Exchange.asmx"),
    VdirKind.OAB: ("OAB", "/OAB"),
    VdirKind.ACTIVESYNC: ("Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync"),
}


@dataclass
class Cas:
    """One Exchange server as a test wants it; every field has the healthy value."""

    name: str
    site: str = "HQ"
    version: str = SP3
    external_host: str = "mail.contoso.lab"
    internal_host: str = ""  # default: the server's own FQDN
    failback_url: str = ""  # the OWA virtual directory's FailbackUrl
    oa_host: str | None = "mail.contoso.lab"  # None: Outlook Anywhere not enabled
    oa_auth: str = "Basic"
    encryption_required: bool = False
    cert_names: tuple[str, ...] = NAMES
    cert_thumbprint: str = "A" * 40
    spare_certs: tuple[ExchangeCertificate, ...] = ()
    proxy: str | None = "proxy.contoso.lab:8080"
    bypass: tuple[str, ...] = ("<local>", "*.contoso.lab")
    peer_group: str = ""
    collected: bool = True
    errors: tuple[SectionError, ...] = field(default=())
    client_access: bool = True
    #: the virtual directories it has (default: OWA, ECP, EWS, OAB, ActiveSync), their auth methods
    vdir_kinds: tuple[VdirKind, ...] = tuple(_PATHS)
    vdir_auth: tuple[str, ...] = ()
    #: inventory host variables, e.g. ``winhttp_proxy=proxy.contoso.lab:8080``
    host_vars: str = ""
    #: ServerFacts fields to set beyond the ones above (databases, services, registry, events...)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fqdn(self) -> str:
        return f"{self.name.lower()}.contoso.lab"


def certificate(
    names: tuple[str, ...],
    thumbprint: str,
    services: tuple[str, ...] = ("IIS",),
    status: str = "Valid",
    not_after: datetime = NEXT_YEAR,
) -> ExchangeCertificate:
    return ExchangeCertificate(
        thumbprint, f"CN={names[0]}", "CN=Contoso CA", names, services, status, NOW, not_after
    )


def _server(cas: Cas) -> ExchangeServer:
    roles = ("ClientAccess", "HubTransport") if cas.client_access else ("Mailbox",)
    return ExchangeServer(
        cas.name,
        cas.fqdn,
        f"contoso.lab/Configuration/Sites/{cas.site}",
        roles,
        cas.client_access,
        not cas.client_access,
        cas.version,
    )


def _vdirs(cas: Cas) -> tuple[VirtualDirectory, ...]:
    if not cas.client_access:
        return ()
    internal = cas.internal_host or cas.fqdn
    return tuple(
        VirtualDirectory(
            kind,
            f"{cas.name}\\{name} (Default Web Site)",
            cas.name,
            f"https://{internal}{path}",
            f"https://{cas.external_host}{path}" if cas.external_host else "",
            cas.failback_url if kind is VdirKind.OWA else "",
            cas.vdir_auth,
            cas.vdir_auth,
        )
        for kind, (name, path) in _PATHS.items()
        if kind in cas.vdir_kinds
    )


def _facts(cas: Cas, org: tuple[ExchangeServer, ...], arrays: tuple[ClientAccessArray, ...]) -> ServerFacts:
    oa = (
        (
            OutlookAnywhere(
                f"{cas.name}\\Rpc (Default Web Site)", cas.name, cas.oa_host, cas.oa_auth, ("Basic",), False
            ),
        )
        if cas.oa_host is not None and cas.client_access
        else ()
    )
    bypass = cas.bypass if cas.proxy else ()
    facts = ServerFacts(
        meta=CollectorMeta(1, cas.name, "2.0", NOW, "en-US"),
        local_server=cas.name,
        servers=org,
        arrays=arrays,
        rpc_client_access=RpcClientAccess(cas.name, cas.encryption_required) if cas.client_access else None,
        vdirs=_vdirs(cas),
        outlook_anywhere=oa,
        winhttp=WinHttpSettings("", "", cas.proxy, bypass),
        certificates=(certificate(cas.cert_names, cas.cert_thumbprint), *cas.spare_certs),
        errors=cas.errors,
    )
    return replace(facts, **cas.extra)


def a_record(name: str, *ips: str, status: str = "") -> DnsAnswer:
    """A saved DNS answer: NOERROR with *ips*, or *status* (NXDOMAIN, ...) without records."""
    return DnsAnswer(name, "A", status or ("NOERROR" if ips else "NXDOMAIN"), ips, resolver="saved facts")


def world(
    *servers: Cas,
    arrays: dict[str, str] | None = None,
    dns: tuple[DnsAnswer, ...] = (),
    group_vars: str = "",
    published: tuple[str, ...] = (),
    tls: Mapping[str, TlsHandshake] | None = None,
    trust_roots: tuple[x509.Certificate, ...] = (),
    http: Mapping[str, Any] | None = None,
    autodiscover: Mapping[str, Any] | None = None,
    probe_user: str | None = None,
    **parts: Any,
) -> EvidenceView:
    """A EvidenceView of *servers*; *arrays* maps a site to its CAS array FQDN (default: an array in HQ);
    *dns* are the only answers gathered (each one declared, as if a check had asked for it; any
    other question is an error); *group_vars* are ``[all:vars]`` lines; *published* the
    inventory's ``[published]`` names; *tls*, *trust_roots*,
    *http*, *autodiscover* and *probe_user* fill the TLS and HTTP evidence; *parts* set other
    Evidence parts (revocation, smtp, exchange)."""
    arrays = {"HQ": "outlook.contoso.lab"} if arrays is None else arrays
    org = tuple(_server(c) for c in servers)
    array_facts = tuple(
        ClientAccessArray(
            fqdn.split(".")[0],
            fqdn,
            f"contoso.lab/Configuration/Sites/{site}",
            tuple(c.name for c in servers if c.site == site and c.client_access),
        )
        for site, fqdn in arrays.items()
    )
    lines = [
        " ".join(
            part
            for part in (c.fqdn, f"peer_group={c.peer_group}" if c.peer_group else "", c.host_vars)
            if part
        )
        for c in servers
    ]
    text = "\n".join(lines) + "\n" + (f"[all:vars]\n{group_vars}\n" if group_vars else "")
    if published:
        text += "[published]\n" + "\n".join(published) + "\n"
    inventory = parse_inventory(text, "unit.ini")
    records = {}
    for cas in servers:
        settings = host_settings(inventory, inventory.hosts[cas.fqdn], password=None)
        if cas.collected:
            records[cas.fqdn] = ServerRecord(cas.fqdn, settings, facts=_facts(cas, org, array_facts))
        else:
            error = CollectionError(cas.fqdn, "winrm", "connection refused")
            records[cas.fqdn] = ServerRecord(cas.fqdn, settings, error=error)
    answers = {question(a.name, a.rdtype): a for a in dns}
    evidence = Evidence(
        inventory,
        run_settings(inventory),
        now=NOW,
        os=frozen_map(records),
        dns=DnsEvidence(frozen_map(answers), frozenset(answers)),
        tls=TlsEvidence(frozen_map(tls or {}), trust_roots),
        http=HttpEvidence(frozen_map(http or {}), frozen_map(autodiscover or {}), probe_user),
        **{name: frozen_map(value) if isinstance(value, dict) else value for name, value in parts.items()},
    )
    return EvidenceView(evidence)


def with_servers(w: EvidenceView, servers: Mapping[str, ServerRecord]) -> EvidenceView:
    """*w* with other server records (the rest of its evidence unchanged)."""
    return EvidenceView(replace(w.evidence, os=frozen_map(servers)))


def three(**changes: object) -> EvidenceView:
    """The HQ array of CAS01..CAS03, CAS03 changed by *changes*."""
    return world(Cas("CAS01"), Cas("CAS02"), replace(Cas("CAS03"), **changes))  # type: ignore[arg-type]


def case_ids(w: EvidenceView, requirement: str) -> list[str]:
    return [c.id for c in CHECKS[requirement].cases(w)]


def judge(w: EvidenceView, requirement: str, case_id: str) -> Finding:
    """The finding of *requirement* on the case whose test id is *case_id* (through the registry,
    as the suite calls it: NotApplicable and FactsUnavailable propagate)."""
    spec = CHECKS[requirement]
    cases = {c.id: c for c in spec.cases(w)}
    assert case_id in cases, sorted(cases)
    return spec.judge(w, cases[case_id])


def handshake(
    name: str, chain: tuple[x509.Certificate, ...] = (), error: str | None = None, address: str = "10.0.0.5"
) -> TlsHandshake:
    """A saved TLS handshake with *name*: the *chain* it sent (leaf first), or the *error*."""
    pems = tuple(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    return TlsHandshake(name, address, 443, pems, None if error else "TLSv1.2", error)


def leaf(pki: Pki, *names: str, days_left: int = 300) -> tuple[x509.Certificate, ...]:
    """The chain a server sends for a leaf naming *names* (leaf, intermediate), valid at NOW."""
    issued = pki.issue(names, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=days_left))
    return issued.chain

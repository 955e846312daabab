"""Who each requirement is parametrized over, read from the gathered facts: one enumerator per
Subject, which a check names in its declaration (so its subject is written nowhere else).

A server whose facts could not be gathered still yields a case (an error placeholder), so a gate
never passes by silently checking fewer objects than exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from cas_conformance.checks.base import Case, Enumerator, FactsUnavailable, NotApplicable, enumerates
from cas_conformance.domain.catalogue import Subject
from cas_conformance.domain.facts import ExchangeCertificate, ExchangeServer, ServerFacts, VdirKind
from cas_conformance.evidence.view import EvidenceView, ServerRecord

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._:@/\\()+\-=,#]")


def safe_id(text: str) -> str:
    """A test id that is safe in every report: printable ASCII without markup characters."""
    cleaned = _UNSAFE.sub("_", text)
    return cleaned[:120] or "_"


def placeholder(record: ServerRecord, world: EvidenceView, consequence: str = "") -> Case:
    reason = record.error.reason if record.error else "not collected"
    channel = record.error.channel if record.error else "winrm"
    return Case(
        record.host,
        safe_id(world.label(record.host)),
        record.host,
        f"could not collect facts over {channel}: {reason}" + (f"; {consequence}" if consequence else ""),
    )


def failed_placeholders(world: EvidenceView) -> list[Case]:
    return [placeholder(r, world) for r in world.servers.values() if r.facts is None]


def local_server(record: ServerRecord) -> ExchangeServer:
    facts = record.require()
    failed = facts.section_error("server")
    if failed is not None:
        raise FactsUnavailable(f"{record.host}: the Exchange servers could not be read: {failed.message}")
    local = facts.local
    if local is None:
        raise FactsUnavailable(
            f"{record.host}: the collector ran on {facts.local_server}, which Get-ExchangeServer did not list"
        )
    return local


def require_2010(record: ServerRecord) -> ExchangeServer:
    """The local server, or NotApplicable for Exchange 2013+ (a migration in progress)."""
    local = local_server(record)
    version = local.version
    if version is not None and version.major >= 15:
        raise NotApplicable(
            f"{local.name} runs {version.text} ({version.product}): this Exchange 2010 requirement does not "
            "apply to it (migration in progress)"
        )
    return local


def record(world: EvidenceView, host: str) -> ServerRecord:
    try:
        return world.servers[host]
    except KeyError:
        raise FactsUnavailable(f"{host} is not a server of this inventory") from None


@enumerates(Subject.SERVER)
def servers(world: EvidenceView) -> list[Case]:
    return [Case(name, safe_id(world.label(name)), name) for name in world.servers]


def _per_server(
    world: EvidenceView, objects: Callable[[str, ServerFacts], Iterable[Case]], section: str | None = None
) -> list[Case]:
    """The cases *objects* finds on each collected server, and an error placeholder for each
    server that could not be collected or whose *section* could not be read (its objects are
    unknown, so the gate must not pass)."""
    cases: list[Case] = []
    for name, rec in world.servers.items():
        failed = rec.facts.section_error(section) if rec.facts is not None and section else None
        if rec.facts is None:
            cases.append(placeholder(rec, world))
        elif failed is not None:
            cases.append(
                Case(name, safe_id(world.label(name)), name, f"could not read {section}: {failed.message}")
            )
        else:
            cases.extend(objects(name, rec.facts))
    return cases


def _server_if(world: EvidenceView, keep: Callable[[ExchangeServer], bool]) -> list[Case]:
    def one(name: str, facts: ServerFacts) -> list[Case]:
        local = facts.local  # unknown local server: keep it, its check errors with the reason
        return [Case(name, safe_id(world.label(name)), name)] if local is None or keep(local) else []

    return _per_server(world, one)


@enumerates(Subject.CAS)
def cas_servers(world: EvidenceView) -> list[Case]:
    """Client Access servers, plus Mailbox servers hosting a public-folder database (KB3032395)."""
    return _server_if(world, lambda s: s.is_client_access or world.hosts_pf_database(s.name))


@enumerates(Subject.CLIENT_ACCESS)
def client_access_only(world: EvidenceView) -> list[Case]:
    return _server_if(world, lambda s: s.is_client_access)


@enumerates(Subject.NON_CAS)
def non_cas_servers(world: EvidenceView) -> list[Case]:
    return _server_if(world, lambda s: not s.is_client_access)


def _org_failure(world: EvidenceView, section: str) -> list[Case]:
    """An error placeholder when an organisation-wide list could not be read (fail closed: its
    objects are unknown, so the gate must not pass by checking none)."""
    for facts in world.collected():
        failed = facts.section_error(section)
        if failed is not None:
            return [Case(section, safe_id(section), "", f"could not read the organisation: {failed.message}")]
    return []


@enumerates(Subject.DATABASE)
def databases(world: EvidenceView) -> list[Case]:
    failed = _org_failure(world, "database")
    if failed:
        return failed
    cases = [
        Case(db.name, safe_id(db.name), db.server) for db in sorted(world.databases(), key=lambda d: d.name)
    ]
    if not world.collected():
        return failed_placeholders(world)
    return cases + [c for c in failed_placeholders(world) if not cases]


@enumerates(Subject.RPC_ENDPOINT)
def rpc_endpoints(world: EvidenceView) -> list[Case]:
    failed = _org_failure(world, "database")
    if failed:
        return failed
    values = sorted(
        {db.rpc_client_access_server.lower() for db in world.databases() if db.rpc_client_access_server}
    )
    if not world.collected():
        return failed_placeholders(world)
    return [Case(v, safe_id(v)) for v in values]


@enumerates(Subject.OWA_VDIR)
def owa_vdirs(world: EvidenceView) -> list[Case]:
    def vdirs(name: str, facts: ServerFacts) -> list[Case]:
        return [
            Case(f"{name}|{v.identity}", safe_id(f"{world.label(name)}-{v.name}"), name)
            for v in facts.vdirs
            if v.kind is VdirKind.OWA and v.external_url
        ]

    return _per_server(world, vdirs, "vdir")


@enumerates(Subject.CERTIFICATE)
def certificates(world: EvidenceView) -> list[Case]:
    def assigned(name: str, facts: ServerFacts) -> list[Case]:
        certs = [c for c in facts.certificates if c.assigned]
        labels = [_cert_label(c) for c in certs]
        cases = []
        for cert, label in zip(certs, labels, strict=True):
            # Stable ids across renewals and lab runs; the thumbprint only where a label repeats.
            if labels.count(label) > 1:
                label = f"{label}-{cert.thumbprint[:12]}"
            cases.append(Case(f"{name}|{cert.thumbprint}", safe_id(f"{world.label(name)}-{label}"), name))
        return cases

    return _per_server(world, assigned, "certificate")


def _cert_label(cert: ExchangeCertificate) -> str:
    for part in cert.subject.split(","):
        key, _, value = part.strip().partition("=")
        if key.upper() == "CN" and value:
            return value
    return cert.thumbprint[:12]


@enumerates(Subject.NAME)
def names(world: EvidenceView) -> list[Case]:
    return [Case(n, safe_id(n)) for n in world.names] + failed_placeholders(world)


@enumerates(Subject.ENDPOINT)
def endpoints(world: EvidenceView) -> list[Case]:
    cases = []
    for url, endpoint in sorted(world.endpoints.items()):
        label = url.split("://", 1)[-1]
        cases.append(Case(url, safe_id(label), endpoint.server))
    return cases + failed_placeholders(world)


@enumerates(Subject.SMTP_DOMAIN)
def smtp_domains(world: EvidenceView) -> list[Case]:
    return [Case(d, safe_id(d)) for d in world.smtp_domains]


autodiscover = Enumerator(Subject.AUTODISCOVER, smtp_domains.find)
"""Every smtp domain, as Autodiscover answers the test mailbox about it."""

"""Exchange facts through Exchange remote PowerShell: planned, fetched, saved and loaded here.

One session per run, to the first Client Access server of the plan that opens one (the next on
failure). Organisation-wide cmdlets are asked once; per-server cmdlets once per inventory server
with ``-Server``, pipelined through the session's runspace pool (at most ``--forks`` at a time).
Answers become the dataclasses of :mod:`cas_conformance.domain.facts`; a cmdlet that fails makes the
section it fills an error (fail closed) naming the cmdlet and the reason. No script, no snap-in:
cmdlets only, run by Exchange itself with the account's RBAC roles (exchange-facts 8.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.psrp import Cmdlet, CmdletOutcome, ExchangeSession, PsrpTarget, RemoteObject
from cas_conformance.domain.facts import (
    EXCHANGE_ORG_SECTIONS,
    ClientAccessArray,
    ClientAccessServer,
    ExchangeCertificate,
    ExchangeServer,
    ExchangeServerFacts,
    MailboxDatabase,
    OutlookAnywhere,
    PublicFolderDatabase,
    RpcClientAccess,
    SectionError,
    VdirKind,
    VirtualDirectory,
)
from cas_conformance.domain.facts import (
    ExchangeOrganisationFacts as ExchangeOrganisationFacts,
)
from cas_conformance.errors import CollectionError
from cas_conformance.evidence import codec
from cas_conformance.evidence.kind import Kind, Loading
from cas_conformance.evidence.model import ExchangeEvidence as ExchangeEvidence
from cas_conformance.evidence.model import frozen_map
from cas_conformance.settings import HostSettings

SCHEMA = "exchange/1"
ORG_CMDLETS = (
    ("server", "Get-ExchangeServer"),
    ("database", "Get-MailboxDatabase"),
    ("publicfolderdatabase", "Get-PublicFolderDatabase"),
    ("array", "Get-ClientAccessArray"),
    ("clientaccessserver", "Get-ClientAccessServer"),
)
VDIR_CMDLETS = (
    (VdirKind.OWA, "Get-OwaVirtualDirectory"),
    (VdirKind.ECP, "Get-EcpVirtualDirectory"),
    (VdirKind.EWS, "Get-WebServicesVirtualDirectory"),
    (VdirKind.ACTIVESYNC, "Get-ActiveSyncVirtualDirectory"),
    (VdirKind.OAB, "Get-OabVirtualDirectory"),
    (VdirKind.AUTODISCOVER, "Get-AutodiscoverVirtualDirectory"),
)
#: an ExchangeCertificate crosses a remote session as raw data only: ask for its properties
CERTIFICATE_PROPERTIES = (
    "Thumbprint",
    "Subject",
    "Issuer",
    "CertificateDomains",
    "Services",
    "Status",
    "NotBefore",
    "NotAfter",
    "IsSelfSigned",
    "PublicKeySize",
)


@dataclass(frozen=True)
class ExchangePlan:
    """Where to open the session (in order) and how, and which servers to ask about."""

    hosts: tuple[str, ...]
    #: each session host's inventory settings (account, trust, time limits); others use the first's
    settings: Mapping[str, HostSettings]
    default: HostSettings
    servers: tuple[str, ...]
    forks: int = 8


# --- fetch -------------------------------------------------------------------------------------


def fetch(
    plan: ExchangePlan,
    dialer: Dialer,
    *,
    opener: Callable[[PsrpTarget, Dialer], ExchangeSession] = ExchangeSession,
) -> ExchangeEvidence:
    """Open one session (the first host of the plan that answers) and read everything through it."""
    attempts: list[str] = []
    for host in plan.hosts:
        try:
            settings = plan.settings.get(host, plan.default)
            target = PsrpTarget.for_host(
                settings,
                host,
                auth=settings.exchange_powershell_auth,
                scheme=settings.exchange_powershell_scheme,
            )
            target = replace(
                target, max_concurrency=max(1, plan.forks), port=settings.exchange_powershell_port
            )
            with opener(target, dialer) as session:
                return _read(session, host, plan, tuple(attempts))
        except CollectionError as exc:
            attempts.append(f"{host}: {exc.reason}")
        except Exception as exc:  # a crash while reading through one session fails that attempt, never passes
            attempts.append(f"{host}: {exc.__class__.__name__}: {exc}")
    reason = "no Exchange remote PowerShell session: " + (
        "; ".join(attempts) or "no Client Access server to ask"
    )
    return _unreachable(reason, tuple(attempts))


def _unreachable(reason: str, attempts: tuple[str, ...]) -> ExchangeEvidence:
    organisation = ExchangeOrganisationFacts(
        errors=tuple(SectionError(s, reason) for s in EXCHANGE_ORG_SECTIONS), attempts=attempts
    )
    return ExchangeEvidence(organisation, frozen_map())


def _read(
    session: ExchangeSession, via: str, plan: ExchangePlan, attempts: tuple[str, ...]
) -> ExchangeEvidence:
    outcomes = session.run_all([Cmdlet(name) for _, name in ORG_CMDLETS])
    organisation = _organisation(via, outcomes, attempts)
    asked: list[tuple[str, str, Cmdlet]] = []  # (inventory host, section, cmdlet)
    for host in plan.servers:
        for section, cmdlet in _per_server(organisation, host):
            asked.append((host, section, cmdlet))
    answers = session.run_all([c for _, _, c in asked])
    by_host: dict[str, list[tuple[str, CmdletOutcome]]] = {h: [] for h in plan.servers}
    for (host, section, _), outcome in zip(asked, answers, strict=True):
        by_host[host].append((section, outcome))
    return ExchangeEvidence(
        organisation, frozen_map((h, _server_facts(via, h, got)) for h, got in by_host.items())
    )


def _org_server(organisation: ExchangeOrganisationFacts, host: str) -> ExchangeServer | None:
    wanted = host.lower().rstrip(".")
    short = wanted.split(".", 1)[0]
    for server in organisation.servers:
        if wanted in (server.fqdn.lower(), server.name.lower()):
            return server
    return next((s for s in organisation.servers if s.name.lower() == short), None)


def _per_server(organisation: ExchangeOrganisationFacts, host: str) -> list[tuple[str, Cmdlet]]:
    """The cmdlets one server is asked; roles unknown: all of them (the errors then say why)."""
    server = _org_server(organisation, host)
    name = server.name if server else host
    cas = server is None or server.is_client_access
    hosts_pf = any(db.server.lower() == name.lower() for db in organisation.public_folder_databases)
    pf_unknown = any(e.section == "publicfolderdatabase" for e in organisation.errors)
    asked: list[tuple[str, Cmdlet]] = []
    if cas:
        asked += [("vdir", Cmdlet(c, {"Server": name, "ADPropertiesOnly": True})) for _, c in VDIR_CMDLETS]
        asked.append(("outlookanywhere", Cmdlet("Get-OutlookAnywhere", {"Server": name})))
    if cas or hosts_pf or pf_unknown:
        asked.append(("rpcclientaccess", Cmdlet("Get-RpcClientAccess", {"Server": name})))
    asked.append(
        ("certificate", Cmdlet("Get-ExchangeCertificate", {"Server": name}, select=CERTIFICATE_PROPERTIES))
    )
    return asked


def _error(section: str, via: str, outcome: CmdletOutcome) -> SectionError:
    return SectionError(section, f"{outcome.cmdlet.name} (through {via}): {'; '.join(outcome.errors)}")


def _mapped(
    section: str, via: str, outcome: CmdletOutcome, mapper: Callable[[RemoteObject], Any]
) -> tuple[list[Any], SectionError | None]:
    if outcome.errors:
        return [], _error(section, via, outcome)
    try:
        return [mapper(o) for o in outcome.objects], None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [], SectionError(
            section, f"{outcome.cmdlet.name} (through {via}): an answer of an unexpected shape: {exc!r}"
        )


def _organisation(
    via: str, outcomes: Sequence[CmdletOutcome], attempts: tuple[str, ...]
) -> ExchangeOrganisationFacts:
    mappers = {
        "server": _exchange_server,
        "database": _mailbox_database,
        "publicfolderdatabase": _public_folder_database,
        "array": _array,
        "clientaccessserver": _client_access_server,
    }
    values: dict[str, tuple[Any, ...]] = {}
    errors: list[SectionError] = []
    for (section, _), outcome in zip(ORG_CMDLETS, outcomes, strict=True):
        items, error = _mapped(section, via, outcome, mappers[section])
        values[section] = tuple(items)
        if error:
            errors.append(error)
    arrays = tuple({a.fqdn.lower(): a for a in values["array"]}.values())
    return ExchangeOrganisationFacts(
        via=via,
        servers=values["server"],
        databases=values["database"],
        public_folder_databases=values["publicfolderdatabase"],
        arrays=arrays,
        client_access_servers=values["clientaccessserver"],
        errors=tuple(errors),
        attempts=attempts,
    )


def _server_facts(via: str, host: str, got: Sequence[tuple[str, CmdletOutcome]]) -> ExchangeServerFacts:
    vdirs: list[VirtualDirectory] = []
    oa: list[OutlookAnywhere] = []
    rpc: list[RpcClientAccess] = []
    certificates: list[ExchangeCertificate] = []
    errors: list[SectionError] = []
    kinds = {name: kind for kind, name in VDIR_CMDLETS}
    for section, outcome in got:
        mapper: Callable[[RemoteObject], Any]
        target: list[Any]
        if section == "vdir":
            mapper, target = _vdir_of(kinds[outcome.cmdlet.name]), vdirs
        elif section == "outlookanywhere":
            mapper, target = _outlook_anywhere, oa
        elif section == "rpcclientaccess":
            mapper, target = _rpc_client_access, rpc
        else:
            mapper, target = _certificate, certificates
        items, error = _mapped(section, via, outcome, mapper)
        target.extend(items)
        if error:
            errors.append(error)
    return ExchangeServerFacts(
        rpc[0] if rpc else None, tuple(vdirs), tuple(oa), tuple(certificates), tuple(errors)
    )


# --- deserialized objects -> facts ---------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


def _items(value: Any) -> tuple[str, ...]:
    """A MultiValuedProperty's items as text (a list, or nothing)."""
    if value is None:
        return ()
    if isinstance(value, RemoteObject):
        if value.items:
            return tuple(_text(i) for i in value.items if _text(i))
        return ()
    if isinstance(value, list | tuple):
        return tuple(_text(i) for i in value if _text(i))
    return (_text(value),) if _text(value) else ()


def _flags(value: Any) -> tuple[str, ...]:
    """An enumeration of flags, as PowerShell prints it (``Mailbox, ClientAccess``)."""
    return tuple(p.strip() for p in _text(value).split(",") if p.strip())


def _name(value: Any) -> str:
    """An ADObjectId's short name (its Name property, else its text)."""
    if isinstance(value, RemoteObject) and "Name" in value.properties and value["Name"]:
        return _text(value["Name"])
    return _text(value).rsplit("\\", 1)[-1]


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return _text(value).lower() == "true"


def _date(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = _text(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # .NET's seven fraction digits: Python takes six
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _exchange_server(o: RemoteObject) -> ExchangeServer:
    return ExchangeServer(
        name=_text(o["Name"]),
        fqdn=_text(o["Fqdn"]),
        site=_text(o["Site"]),
        server_role=_flags(o["ServerRole"]),
        is_client_access=_bool(o["IsClientAccessServer"]),
        is_mailbox=_bool(o["IsMailboxServer"]),
        admin_display_version=_text(o["AdminDisplayVersion"]),
    )


def _mailbox_database(o: RemoteObject) -> MailboxDatabase:
    return MailboxDatabase(
        _text(o["Name"]),
        _name(o["Server"]),
        _text(o["RpcClientAccessServer"]),
        _name(o.properties.get("MasterServerOrAvailabilityGroup")),
    )


def _public_folder_database(o: RemoteObject) -> PublicFolderDatabase:
    return PublicFolderDatabase(_text(o["Name"]), _name(o["Server"]))


def _array(o: RemoteObject) -> ClientAccessArray:
    members = o["Members"]
    names = tuple(_name(m) for m in members.items) if isinstance(members, RemoteObject) else _items(members)
    return ClientAccessArray(_text(o["Name"]), _text(o["Fqdn"]), _text(o["Site"]), names)


def _client_access_server(o: RemoteObject) -> ClientAccessServer:
    return ClientAccessServer(
        _text(o["Name"]),
        _text(o.properties.get("AutoDiscoverServiceInternalUri")),
        _items(o.properties.get("AutoDiscoverSiteScope")),
    )


def _vdir(kind: VdirKind, o: RemoteObject) -> VirtualDirectory:
    return VirtualDirectory(
        kind=kind,
        identity=_text(o["Identity"]),
        server=_name(o["Server"]),
        internal_url=_text(o.properties.get("InternalUrl")),
        external_url=_text(o.properties.get("ExternalUrl")),
        failback_url=_text(o.properties.get("FailbackUrl")),
        internal_auth=_items(o.properties.get("InternalAuthenticationMethods")),
        external_auth=_items(o.properties.get("ExternalAuthenticationMethods")),
    )


def _vdir_of(kind: VdirKind) -> Callable[[RemoteObject], VirtualDirectory]:
    return lambda o: _vdir(kind, o)


def _outlook_anywhere(o: RemoteObject) -> OutlookAnywhere:
    return OutlookAnywhere(
        identity=_text(o["Identity"]),
        server=_name(o["Server"]),
        external_hostname=_text(o["ExternalHostname"]),
        client_authentication_method=_text(o["ClientAuthenticationMethod"]),
        iis_authentication_methods=_items(o["IISAuthenticationMethods"]),
        ssl_offloading=_bool(o["SSLOffloading"]),
    )


def _rpc_client_access(o: RemoteObject) -> RpcClientAccess:
    return RpcClientAccess(_name(o["Server"]), _bool(o["EncryptionRequired"]))


def _certificate(o: RemoteObject) -> ExchangeCertificate:
    status = _text(o["Status"]) or "Unknown"
    return ExchangeCertificate(
        thumbprint=_text(o["Thumbprint"]),
        subject=_text(o["Subject"]),
        issuer=_text(o["Issuer"]),
        certificate_domains=_items(o["CertificateDomains"]),
        services=_flags(o["Services"]) or ("None",),
        status=status,
        not_before=_date(o["NotBefore"]),
        not_after=_date(o["NotAfter"]),
        is_self_signed=_bool(o["IsSelfSigned"]),
        public_key_size=int(o["PublicKeySize"] or 0),
    )


# --- save and load -------------------------------------------------------------------------------


def save(evidence: ExchangeEvidence) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "organisation": codec.dump(evidence.organisation),
        "servers": {h: codec.dump(f) for h, f in evidence.servers.items()},
    }


def load(data: Mapping[str, Any], loading: Loading | None = None) -> ExchangeEvidence:
    if data.get("schema") != SCHEMA:
        raise ValueError(f"Exchange evidence of schema {data.get('schema')!r} (this suite reads {SCHEMA})")
    return ExchangeEvidence(
        codec.load(ExchangeOrganisationFacts, data["organisation"]),
        frozen_map((h, codec.load(ExchangeServerFacts, f)) for h, f in data["servers"].items()),
    )


#: fetched by gather first (one session, while the OS collector runs)
KIND = Kind("exchange", save, load)


def plan(run_hosts: Sequence[str], hosts: Mapping[str, HostSettings], forks: int) -> ExchangePlan | None:
    """The session's Client Access servers (``exchange_powershell_hosts``, else the inventory's
    hosts in order), each reached with its own inventory line's account and trust (a host outside
    the inventory with the first host's), and every inventory server to ask about; None without
    servers."""
    if not hosts:
        return None
    first = next(iter(hosts.values()))
    order = tuple(first.exchange_powershell_hosts) or tuple(run_hosts)
    return ExchangePlan(
        hosts=order,
        settings=dict(hosts),
        default=first,
        servers=tuple(hosts),
        forks=max(1, forks),
    )

"""What Exchange remote PowerShell is asked and what its answers become: the organisation-wide and
per-server cmdlets, and each deserialized object mapped onto the dataclasses of
:mod:`cas_conformance.domain.facts`; a cmdlet that failed, or answered in an unexpected shape, makes
the section it fills an error naming the cmdlet (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from cas_conformance.channels.psrp import Cmdlet, CmdletOutcome, RemoteObject
from cas_conformance.domain.facts import (
    ClientAccessArray,
    ClientAccessServer,
    ExchangeCertificate,
    ExchangeOrganisationFacts,
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


def _org_server(organisation: ExchangeOrganisationFacts, host: str) -> ExchangeServer | None:
    wanted = host.lower().rstrip(".")
    short = wanted.split(".", 1)[0]
    for server in organisation.servers:
        if wanted in (server.fqdn.lower(), server.name.lower()):
            return server
    return next((s for s in organisation.servers if s.name.lower() == short), None)


def per_server(organisation: ExchangeOrganisationFacts, host: str) -> list[tuple[str, Cmdlet]]:
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


def organisation(
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


def server_facts(via: str, host: str, got: Sequence[tuple[str, CmdletOutcome]]) -> ExchangeServerFacts:
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

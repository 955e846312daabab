"""Typed facts about one Exchange server, as the collector reports them.

Frozen dataclasses only: the collector parser produces them, the checks read them, the lab builds
them from a scenario and renders them back to collector text. Names follow the Exchange cmdlets'
property names (the cmdlet reference, https://learn.microsoft.com/powershell/module/exchangepowershell/)
so a reader can map every field to the command it came from.
"""

from __future__ import annotations

import re
from dataclasses import Field, dataclass, field
from datetime import datetime
from enum import Enum
from functools import cached_property
from typing import Any, TypeVar

_VERSION = re.compile(r"^Version (\d+)\.(\d+) \(Build (\d+)\.(\d+)\)$")
_SERVICE_PACKS = {0: "RTM", 1: "SP1", 2: "SP2", 3: "SP3"}
_IF_ABSENT = "cas_conformance.if_absent"
_T = TypeVar("_T")


def if_absent(default: _T) -> _T:
    """The field specifier of a field a facts file may lack (one saved by a version that did not
    have the field): such a file loads with *default*, which must say truly what that version
    recorded and leave every check's verdict as it would be. A field without it is required: a file
    that lacks it is refused with one line saying to gather again (docs/facts-files.md)."""
    return field(default=default, metadata={_IF_ABSENT: True})


def loads_if_absent(f: Field[Any]) -> bool:
    """Whether a facts file may lack dataclass field *f* (declared with :func:`if_absent`)."""
    return bool(f.metadata.get(_IF_ABSENT))


@dataclass(frozen=True)
class ServerVersion:
    """``AdminDisplayVersion``: ``Version 14.3 (Build 123.4)``."""

    major: int
    minor: int
    build: int
    revision: int

    @classmethod
    def parse(cls, text: str) -> ServerVersion | None:
        match = _VERSION.match(text.strip())
        if not match:
            return None
        major, minor, build, revision = (int(g) for g in match.groups())
        return cls(major, minor, build, revision)

    @property
    def text(self) -> str:
        return f"Version {self.major}.{self.minor} (Build {self.build}.{self.revision})"

    @property
    def product(self) -> str:
        return {8: "Exchange 2007", 14: "Exchange 2010", 15: "Exchange 2013 or later"}.get(
            self.major, f"Exchange (major version {self.major})"
        )

    @property
    def service_pack(self) -> str:
        if self.major != 14:
            return f"{self.major}.{self.minor}"
        return _SERVICE_PACKS.get(self.minor, f"14.{self.minor}")

    def __str__(self) -> str:
        return f"{self.text} ({self.product} {self.service_pack})" if self.major == 14 else self.text


@dataclass(frozen=True)
class ExchangeServer:
    """One ``Get-ExchangeServer`` record (the collector lists the whole organisation)."""

    name: str
    fqdn: str
    site: str
    server_role: tuple[str, ...]
    is_client_access: bool
    is_mailbox: bool
    admin_display_version: str

    @property
    def version(self) -> ServerVersion | None:
        return ServerVersion.parse(self.admin_display_version)

    @property
    def site_name(self) -> str:
        return self.site.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class MailboxDatabase:
    name: str
    server: str
    rpc_client_access_server: str
    master: str = ""


@dataclass(frozen=True)
class PublicFolderDatabase:
    name: str
    server: str


@dataclass(frozen=True)
class ClientAccessArray:
    name: str
    fqdn: str
    site: str
    members: tuple[str, ...]

    @property
    def site_name(self) -> str:
        return self.site.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RpcClientAccess:
    """``Get-RpcClientAccess -Server <local>``."""

    server: str
    encryption_required: bool


@dataclass(frozen=True)
class RegistryValue:
    """A registry value the collector was asked to read; ``present`` is False when absent."""

    key: str
    name: str
    present: bool
    value: str = ""
    kind: str = ""


@dataclass(frozen=True)
class ServiceState:
    """``Win32_Service``: ``State`` (Running, Stopped, ...) and ``StartMode`` (Auto, Manual, Disabled)."""

    name: str
    present: bool
    state: str = ""
    start_mode: str = ""


@dataclass(frozen=True)
class PerformanceCounterCategory:
    """Whether a performance counter category is installed
    (``[Diagnostics.PerformanceCounterCategory]::Exists(<name>)``)."""

    name: str
    exists: bool


@dataclass(frozen=True)
class EventRecord:
    """An Application-log event matching the collector's filter (Event ID 106 candidates)."""

    event_id: int
    source: str
    time_generated: datetime
    message: str


class VdirKind(str, Enum):
    OWA = "owa"
    ECP = "ecp"
    EWS = "ews"
    ACTIVESYNC = "activesync"
    OAB = "oab"
    AUTODISCOVER = "autodiscover"


@dataclass(frozen=True)
class VirtualDirectory:
    """One ``Get-*VirtualDirectory -ADPropertiesOnly`` record of the local server."""

    kind: VdirKind
    identity: str
    server: str
    internal_url: str = ""
    external_url: str = ""
    failback_url: str = ""
    internal_auth: tuple[str, ...] = ()
    external_auth: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.identity.split("\\", 1)[-1]


@dataclass(frozen=True)
class OutlookAnywhere:
    """``Get-OutlookAnywhere -Server <local>``; absent when Outlook Anywhere is not enabled."""

    identity: str
    server: str
    external_hostname: str
    client_authentication_method: str
    iis_authentication_methods: tuple[str, ...]
    ssl_offloading: bool


@dataclass(frozen=True)
class WinHttpSettings:
    """The machine WinHTTP proxy: the ``WinHttpSettings`` registry value (authoritative, not
    localised) and the ``netsh winhttp show proxy`` text reported beside it."""

    registry_hex: str
    netsh_text: str
    proxy: str | None = None
    bypass_list: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExchangeCertificate:
    """``Get-ExchangeCertificate`` of the local server."""

    thumbprint: str
    subject: str
    issuer: str
    certificate_domains: tuple[str, ...]
    services: tuple[str, ...]
    status: str
    not_before: datetime
    not_after: datetime
    is_self_signed: bool = False
    public_key_size: int = 0

    @property
    def assigned(self) -> bool:
        return any(s != "None" for s in self.services)


@dataclass(frozen=True)
class ClientAccessServer:
    """``Get-ClientAccessServer``: the Autodiscover service connection point."""

    name: str
    autodiscover_internal_uri: str = ""
    autodiscover_site_scope: tuple[str, ...] = ()


@dataclass(frozen=True)
class CollectorMeta:
    format_version: int
    computer_name: str
    ps_version: str
    collected_at: datetime
    culture: str = ""


@dataclass(frozen=True)
class SectionError:
    """A part of the collector that failed on the server (a cmdlet threw): its facts are unknown."""

    section: str
    message: str


@dataclass(frozen=True)
class ServerFacts:
    """Everything one collector run reported. Organisation-wide lists (servers, databases, arrays)
    are the same from every server; the rest describes the server the collector ran on."""

    meta: CollectorMeta
    local_server: str
    servers: tuple[ExchangeServer, ...] = ()
    databases: tuple[MailboxDatabase, ...] = ()
    public_folder_databases: tuple[PublicFolderDatabase, ...] = ()
    arrays: tuple[ClientAccessArray, ...] = ()
    client_access_servers: tuple[ClientAccessServer, ...] = ()
    rpc_client_access: RpcClientAccess | None = None
    registry: tuple[RegistryValue, ...] = ()
    services: tuple[ServiceState, ...] = ()
    counter_categories: tuple[PerformanceCounterCategory, ...] = ()
    events: tuple[EventRecord, ...] = ()
    vdirs: tuple[VirtualDirectory, ...] = ()
    outlook_anywhere: tuple[OutlookAnywhere, ...] = ()
    winhttp: WinHttpSettings | None = None
    certificates: tuple[ExchangeCertificate, ...] = ()
    errors: tuple[SectionError, ...] = field(default=())

    def server(self, name: str) -> ExchangeServer | None:
        """Look up an organisation server by short name or FQDN, case-insensitively."""
        wanted = name.lower().rstrip(".")
        for server in self.servers:
            if wanted in (server.name.lower(), server.fqdn.lower()):
                return server
        return None

    @cached_property
    def local(self) -> ExchangeServer | None:
        return self.server(self.local_server)

    def counter_category(self, name: str) -> PerformanceCounterCategory | None:
        for category in self.counter_categories:
            if category.name.lower() == name.lower():
                return category
        return None

    def section_error(self, section: str) -> SectionError | None:
        for error in self.errors:
            if error.section == section:
                return error
        return None


# --- the parts each kind of evidence delivers, before they are joined per server -------------

#: ServerFacts sections filled by Exchange remote PowerShell, organisation-wide and per server
EXCHANGE_ORG_SECTIONS = ("server", "database", "publicfolderdatabase", "array", "clientaccessserver")
EXCHANGE_SERVER_SECTIONS = ("vdir", "outlookanywhere", "rpcclientaccess", "certificate")


@dataclass(frozen=True)
class ExchangeOrganisationFacts:
    """The organisation as one Exchange remote PowerShell session saw it (asked once per run);
    ``via`` is the Client Access server that served the session ("" when none could)."""

    via: str = ""
    servers: tuple[ExchangeServer, ...] = ()
    databases: tuple[MailboxDatabase, ...] = ()
    public_folder_databases: tuple[PublicFolderDatabase, ...] = ()
    arrays: tuple[ClientAccessArray, ...] = ()
    client_access_servers: tuple[ClientAccessServer, ...] = ()
    errors: tuple[SectionError, ...] = ()
    #: the Client Access servers tried before ``via`` and why each failed (shown in the run's
    #: metadata only; a file without it: none recorded)
    attempts: tuple[str, ...] = if_absent(())


@dataclass(frozen=True)
class ExchangeServerFacts:
    """One server's settings read through the session with ``-Server``."""

    rpc_client_access: RpcClientAccess | None = None
    vdirs: tuple[VirtualDirectory, ...] = ()
    outlook_anywhere: tuple[OutlookAnywhere, ...] = ()
    certificates: tuple[ExchangeCertificate, ...] = ()
    errors: tuple[SectionError, ...] = ()


def join_facts(
    os_facts: ServerFacts, organisation: ExchangeOrganisationFacts, server: ExchangeServerFacts
) -> ServerFacts:
    """One server's facts: the OS collector's, with the Exchange parts from remote PowerShell."""
    return ServerFacts(
        meta=os_facts.meta,
        local_server=os_facts.local_server,
        servers=organisation.servers,
        databases=organisation.databases,
        public_folder_databases=organisation.public_folder_databases,
        arrays=organisation.arrays,
        client_access_servers=organisation.client_access_servers,
        rpc_client_access=server.rpc_client_access,
        registry=os_facts.registry,
        services=os_facts.services,
        counter_categories=os_facts.counter_categories,
        events=os_facts.events,
        vdirs=server.vdirs,
        outlook_anywhere=server.outlook_anywhere,
        winhttp=os_facts.winhttp,
        certificates=server.certificates,
        errors=(
            *(
                e
                for e in os_facts.errors
                if e.section not in EXCHANGE_ORG_SECTIONS + EXCHANGE_SERVER_SECTIONS
            ),
            *organisation.errors,
            *server.errors,
        ),
    )

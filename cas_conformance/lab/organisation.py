"""What each simulated server's collector would print: a scenario turned into ``ServerFacts``.

Organisation-wide lists are the same from every server; the local parts (services, registry,
events, virtual directories, certificates, WinHTTP) describe the server asked. Defaults follow
Exchange 2010 (vdir names, URLs, authentication methods, the self-signed certificate).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cas_conformance.collector.event106 import RPC_CLIENT_ACCESS_CATEGORY, names_rpc_client_access_category
from cas_conformance.collector.format import FORMAT_VERSION
from cas_conformance.collector.script import CollectorParameters
from cas_conformance.collector.winhttp import FLAG_DIRECT, encode_winhttp_settings
from cas_conformance.facts import (
    ClientAccessArray,
    ClientAccessServer,
    CollectorMeta,
    EventRecord,
    ExchangeCertificate,
    ExchangeServer,
    MailboxDatabase,
    OutlookAnywhere,
    PerformanceCounterCategory,
    PublicFolderDatabase,
    RegistryValue,
    RpcClientAccess,
    ServerFacts,
    ServiceState,
    VdirKind,
    VirtualDirectory,
    WinHttpSettings,
)
from cas_conformance.lab.scenario import LabServer, Scenario

RPC_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem"
HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"

# Exchange 2010's default authentication of each virtual directory (OWA and ECP: Basic + forms).
_VDIRS = (
    (VdirKind.OWA, "owa", "/owa", ("Basic", "Fba")),
    (VdirKind.ECP, "ecp", "/ecp", ("Basic", "Fba")),
    (VdirKind.EWS, "EWS", "/EWS/Exchange.asmx", ("Ntlm", "WindowsIntegrated")),
    (VdirKind.ACTIVESYNC, "Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync", ("Basic",)),
    (VdirKind.OAB, "OAB", "/OAB", ("WindowsIntegrated",)),
    (
        VdirKind.AUTODISCOVER,
        "Autodiscover",
        "/Autodiscover/Autodiscover.xml",
        ("Basic", "Ntlm", "WindowsIntegrated"),
    ),
)


@dataclass(frozen=True)
class PublishedCertificate:
    """The certificate every CAS has enabled for IIS and SMTP (what the HTTPS endpoints serve)."""

    thumbprint: str
    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    status: str


def _server_record(s: Scenario, server: LabServer) -> ExchangeServer:
    return ExchangeServer(
        name=server.name,
        fqdn=server.fqdn(s.domain),
        site=s.site_path(server.site),
        server_role=tuple(server.roles),
        is_client_access=server.is_cas,
        is_mailbox=server.is_mailbox,
        admin_display_version=server.version,
    )


def _vdirs(s: Scenario, server: LabServer) -> tuple[VirtualDirectory, ...]:
    if not server.is_cas:
        return ()
    internal_host = server.fqdn(s.domain)
    site = "Default Web Site" + (HOSTILE if s.hostile else "")
    result = []
    for kind, name, path, auth in _VDIRS:
        if kind is VdirKind.AUTODISCOVER:
            # Exchange leaves both empty: clients find Autodiscover through the SCP and DNS.
            internal = external = ""
        elif kind is VdirKind.OAB:
            # Setup writes an http:// InternalUrl (the OAB virtual directory does not require SSL).
            internal = f"http://{internal_host}{path}"
            external = f"https://{server.external_host}{path}" if server.external_host else ""
        else:
            internal = f"https://{internal_host}{path}"
            external = f"https://{server.external_host}{path}" if server.external_host else ""
        failback = (
            f"https://{server.failback_host}/owa" if kind is VdirKind.OWA and server.failback_host else ""
        )
        result.append(
            VirtualDirectory(
                kind, f"{server.name}\\{name} ({site})", server.name, internal, external, failback, auth, auth
            )
        )
    return tuple(result)


def _self_signed(server: LabServer, s: Scenario, now: datetime) -> ExchangeCertificate:
    # Setup enables it for IMAP, POP, IIS and SMTP; on a CAS the published certificate took IIS.
    thumbprint = hashlib.sha1(f"self-signed {server.name} {s.domain}".encode()).hexdigest().upper()
    return ExchangeCertificate(
        thumbprint=thumbprint,
        subject=f"CN={server.name}",
        issuer=f"CN={server.name}",
        certificate_domains=(server.name, server.fqdn(s.domain)),
        services=("IMAP", "POP", "SMTP") if server.is_cas else ("IMAP", "POP", "IIS", "SMTP"),
        status="Valid",
        not_before=now - timedelta(days=400),
        not_after=now + timedelta(days=5 * 365 - 400),
        is_self_signed=True,
        public_key_size=2048,
    )


def _own_iis_certificate(server: LabServer, published: PublishedCertificate) -> tuple[tuple[str, ...], str]:
    """The names and thumbprint this server reports for its IIS certificate: the published one,
    or (drift between array members) a renewal of it or another certificate with more names."""
    names = published.names + tuple(server.certificate_extra_names)
    if not (server.certificate_renewed or server.certificate_extra_names):
        return names, published.thumbprint
    seed = f"{published.thumbprint} {server.name} {' '.join(names)}"
    return names, hashlib.sha1(seed.encode()).hexdigest().upper()

_106 = (
    "Performance counter updating error. Counter name is {counter}, category name is {category}. "
    "Optional code: 3. Exception: The exception thrown is : System.InvalidOperationException: The "
    "requested Performance Counter is not a custom counter, it has to be initialized as ReadOnly.\r\n"
    "   at System.Diagnostics.PerformanceCounter.Initialize()\r\n"
    "Last worker process info : System.ArgumentException: Process with an Id of 4711 is not running.\r\n"
    "Processes running while Performance counter failed to update: \r\n"
    "2148 Microsoft.Exchange.RpcClientAccess.Service.exe\r\n1432 Microsoft.Exchange.ServiceHost.exe\r\n"
    "1388 MSExchangeMailboxAssistants.exe\r\n1216 store.exe\r\n"
)


def _events_106(server: LabServer, now: datetime) -> list[EventRecord]:
    """Every Event 106 in the Application log (the collector reports those its pattern matches)."""
    events = []
    if server.event_106:
        message = _106.format(counter="RPC Requests", category="MSExchange RpcClientAccess")
        events.append(EventRecord(106, "MSExchange Common", now - timedelta(hours=2), message))
    if server.other_event_106:
        message = _106.format(counter="LDAP Read Time", category="MSExchange ADAccess Processes")
        events.append(EventRecord(106, "MSExchange Common", now - timedelta(hours=3), message))
    return events


def _winhttp(server: LabServer) -> WinHttpSettings:
    proxy = server.winhttp_proxy
    bypass = tuple(server.winhttp_bypass) if proxy else ()
    if proxy:
        netsh = (
            "Current WinHTTP proxy settings:\r\n\r\n"
            f"    Proxy Server(s) :  {proxy}\r\n    Bypass List     :  {';'.join(bypass) or '(none)'}\r\n"
        )
        return WinHttpSettings(encode_winhttp_settings(proxy, bypass), netsh, proxy, bypass)
    netsh = "Current WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server).\r\n"
    if server.winhttp_stale_proxy:
        stale = encode_winhttp_settings(
            server.winhttp_stale_proxy, tuple(server.winhttp_bypass), flags=FLAG_DIRECT
        )
        return WinHttpSettings(stale, netsh, None, ())
    return WinHttpSettings(encode_winhttp_settings(None), netsh, None, ())


def server_facts(
    s: Scenario,
    server: LabServer,
    published: PublishedCertificate,
    params: CollectorParameters,
    now: datetime,
) -> ServerFacts:
    """The facts the collector would report when run on *server*."""
    databases = [MailboxDatabase(d.name, d.server, d.rpc_client_access_server, d.server) for d in s.databases]
    if s.hostile:
        first = s.databases[0]
        databases.append(
            MailboxDatabase(f"DB{HOSTILE}", first.server, first.rpc_client_access_server, first.server)
        )
    hosts_pf = any(p.server.lower() == server.name.lower() for p in s.public_folder_databases)
    polling = RegistryValue(params.polling_registry_key, "Maximum Polling Frequency", False)
    if server.polling_ms is not None and params.polling_registry_key.lower() == RPC_KEY.lower():
        polling = RegistryValue(
            params.polling_registry_key, "Maximum Polling Frequency", True, str(server.polling_ms), "DWord"
        )
    push = RegistryValue(
        RPC_KEY,
        "EnablePushNotifications",
        server.push_notifications,
        "1" if server.push_notifications else "",
        "DWord" if server.push_notifications else "",
    )
    events = tuple(
        e
        for e in _events_106(server, now)
        if names_rpc_client_access_category(e.message, params.event_message_pattern)
    )
    certificates: list[ExchangeCertificate] = [_self_signed(server, s, now)]
    if server.is_cas:
        subject = published.subject + (f", O={HOSTILE}" if s.hostile else "")
        names, thumbprint = _own_iis_certificate(server, published)
        certificates.append(
            ExchangeCertificate(
                thumbprint=thumbprint,
                subject=subject,
                issuer=published.issuer,
                certificate_domains=names,
                services=("IIS", "SMTP"),
                status=server.certificate_status or published.status,
                not_before=published.not_before,
                not_after=published.not_after,
                public_key_size=2048,
            )
        )
    outlook_anywhere: tuple[OutlookAnywhere, ...] = ()
    if server.is_cas and server.outlook_anywhere_host:
        outlook_anywhere = (
            OutlookAnywhere(
                f"{server.name}\\Rpc (Default Web Site)",
                server.name,
                server.outlook_anywhere_host,
                server.outlook_anywhere_auth,
                ("Basic", "Ntlm"),
                False,
            ),
        )
    rpc = None
    if server.is_cas or hosts_pf:
        rpc = RpcClientAccess(server.name, server.encryption_required)
    return ServerFacts(
        meta=CollectorMeta(FORMAT_VERSION, server.name, "2.0", now, "en-US"),
        local_server=server.name,
        servers=tuple(_server_record(s, x) for x in s.servers),
        databases=tuple(databases),
        public_folder_databases=tuple(
            PublicFolderDatabase(p.name, p.server) for p in s.public_folder_databases
        ),
        arrays=tuple(
            ClientAccessArray(
                a.name,
                a.fqdn,
                s.site_path(a.site),
                tuple(x.name for x in s.servers if x.is_cas and x.site == a.site),
            )
            for a in s.arrays
        ),
        client_access_servers=tuple(
            ClientAccessServer(
                x.name, f"https://autodiscover.{s.smtp_domains[0]}/Autodiscover/Autodiscover.xml", (x.site,)
            )
            for x in s.servers
            if x.is_cas
        ),
        rpc_client_access=rpc,
        registry=(push, polling),
        services=(
            ServiceState("MSExchangeRPC", True, server.rpc_service_state, server.rpc_service_start_mode),
        ),
        counter_categories=(PerformanceCounterCategory(RPC_CLIENT_ACCESS_CATEGORY, server.has_rpc_counters),),
        events=events,
        vdirs=_vdirs(s, server),
        outlook_anywhere=outlook_anywhere,
        winhttp=_winhttp(server),
        certificates=tuple(certificates),
    )

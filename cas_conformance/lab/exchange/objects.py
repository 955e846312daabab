"""The Exchange 2010 objects a lab organisation answers with, built from the scenario's own terms.

One method per object kind; each returns :class:`ExchangeObject` values: the object as the cmdlet
writes it to the pipeline (``wire``, serialized by psrpcore) and every property the object has on
the server (``properties``, what ``Select-Object`` picks from). They differ only for certificates:
an ``ExchangeCertificate`` crosses a remote session as its ``X509Certificate2`` base, raw data only
(CSS-Exchange ``E19/Exchange/GetExchangeCertificate.xml``; MicrosoftDocs/office-docs-powershell#5256:
"Get-ExchangeCertificate will not return the services ... in a remote powershell session").

Defaults follow Exchange 2010 as the cmdlet reference
(https://learn.microsoft.com/powershell/module/exchangepowershell/, the ``Get-*`` page of each
object) and the CSS-Exchange samples describe it: virtual directory names ``<vdir> (Default Web
Site)``, URLs on the server's FQDN, authentication methods, the self-signed certificate. Nothing
here comes from the product's collector or facts: the lab describes servers in Exchange's terms,
and the suite must read them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from psrpcore.types import PSByteArray, PSGuid, PSObject

from cas_conformance.lab.exchange import wire_types as t
from cas_conformance.lab.scenario.model import LabServer, Scenario, server_key, servers_by_name

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
ADMIN_GROUP = "Exchange Administrative Group (FYDIBOHF23SPDLT)"
CERTIFICATE_TYPE = "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate"

#: cmdlet noun -> (vdir name, path, authentication methods, own type names)
VDIRS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    # OWA and ECP: Basic and forms (Exchange 2010's defaults)
    "Owa": ("owa", "/owa", ("Basic", "Fba"), ("ADOwaVirtualDirectory", "ExchangeWebAppVirtualDirectory")),
    "Ecp": ("ecp", "/ecp", ("Basic", "Fba"), ("ADEcpVirtualDirectory", "ExchangeWebAppVirtualDirectory")),
    "WebServices": (
        "EWS",
        "/EWS/Exchange.asmx",
        ("Ntlm", "WindowsIntegrated"),
        ("ADWebServicesVirtualDirectory", "ADExchangeServiceVirtualDirectory"),
    ),
    "ActiveSync": (
        "Microsoft-Server-ActiveSync",
        "/Microsoft-Server-ActiveSync",
        ("Basic",),
        ("ADMobileVirtualDirectory",),
    ),
    "Oab": ("OAB", "/OAB", ("WindowsIntegrated",), ("ADOabVirtualDirectory",)),
    "Autodiscover": (
        "Autodiscover",
        "/Autodiscover/Autodiscover.xml",
        ("Basic", "Ntlm", "WindowsIntegrated"),
        ("ADAutodiscoverVirtualDirectory", "ADExchangeServiceVirtualDirectory"),
    ),
}
_VDIR_BASE = (
    f"{t.SYSCONFIG}.ExchangeVirtualDirectory",
    f"{t.SYSCONFIG}.ADVirtualDirectory",
    *t.CONFIG_OBJECT,
)


@dataclass(frozen=True)
class LabCertificate:
    """A certificate in a server's store, as the lab knows it (DER, what it is enabled for)."""

    der: bytes
    services: tuple[str, ...]
    status: str
    is_self_signed: bool = False


@dataclass(frozen=True)
class ExchangeObject:
    """What a cmdlet writes (``wire``) and every property the server-side object has."""

    wire: PSObject
    properties: Sequence[tuple[str, Any]] = field(default_factory=tuple)


def _served(type_names: Sequence[str], text: str, properties: list[tuple[str, Any]]) -> ExchangeObject:
    return ExchangeObject(t.obj(type_names, text, properties), tuple(properties))


class ExchangeOrganisation:
    """The scenario's organisation as Exchange 2010's cmdlets present it.

    *certificates* gives the certificates of one server's store (the lab's PKI knows them).
    """

    def __init__(
        self,
        scenario: Scenario,
        certificates: Callable[[LabServer], Sequence[LabCertificate]],
        now: dt.datetime,
    ) -> None:
        self.s = scenario
        self._certificates = certificates
        self.now = now
        domain = scenario.domain
        self._dc = f"DC={domain.replace('.', ',DC=')}"
        self._config = f"CN=Configuration,{self._dc}"
        self._org = f"CN={scenario.organisation},CN=Microsoft Exchange,CN=Services,{self._config}"
        self._by_name = servers_by_name(scenario)

    # --- identities ------------------------------------------------------------------------
    def server(self, name: str) -> LabServer | None:
        """The server a ``-Server`` value names (short name or FQDN, any case), or None."""
        return self._by_name.get(server_key(name))

    def _server_dn(self, server: LabServer) -> str:
        return f"CN={server.name},CN=Servers,CN={ADMIN_GROUP},CN=Administrative Groups,{self._org}"

    def _server_id(self, server: LabServer) -> PSObject:
        return t.ad_object_id(server.name, server.name, self._server_dn(server), self.s.domain)

    def _site_id(self, site: str) -> PSObject:
        return t.ad_object_id(
            self.s.site_path(site), site, f"CN={site},CN=Sites,{self._config}", self.s.domain
        )

    def _id(self, text: str, dn: str) -> PSObject:
        return t.ad_object_id(text, text.rsplit("\\", 1)[-1], dn, self.s.domain)

    def _common(self, dn: str, category: str, classes: Sequence[str]) -> list[tuple[str, Any]]:
        created = self.now - dt.timedelta(days=900)
        return [
            ("DistinguishedName", dn),
            ("Guid", PSGuid(_guid(dn))),
            (
                "ObjectCategory",
                self._id(
                    f"{self.s.domain}/Configuration/Schema/{category}",
                    f"CN={category},CN=Schema,{self._config}",
                ),
            ),
            ("ObjectClass", t.multi_valued(["top", *classes])),
            ("WhenChanged", t.when(created + dt.timedelta(days=30))),
            ("WhenCreated", t.when(created)),
            ("WhenChangedUTC", t.when(created + dt.timedelta(days=30))),
            ("WhenCreatedUTC", t.when(created)),
            ("OriginatingServer", f"dc01.{self.s.domain}"),
            ("IsValid", True),
            ("ObjectState", t.ObjectState.Unchanged),
        ]

    # --- organisation-wide -----------------------------------------------------------------
    def exchange_servers(self) -> list[ExchangeObject]:
        result = []
        for x in self.s.servers:
            dn = self._server_dn(x)
            result.append(
                _served(
                    (
                        f"{t.DIRECTORY}.Management.ExchangeServer",
                        f"{t.DIRECTORY}.Management.ADPresentationObject",
                        *t.AD_OBJECT,
                    ),
                    x.name,
                    [
                        ("Name", x.name),
                        ("Domain", self.s.domain),
                        (
                            "ExchangeLegacyDN",
                            f"/o={self.s.organisation}/ou={ADMIN_GROUP}/cn=Configuration/cn=Servers/cn={x.name}",
                        ),
                        ("Fqdn", x.fqdn(self.s.domain)),
                        ("IsHubTransportServer", "HubTransport" in x.roles),
                        ("IsClientAccessServer", x.is_cas),
                        ("IsExchange2007OrLater", True),
                        ("IsEdgeServer", "Edge" in x.roles),
                        ("IsMailboxServer", x.is_mailbox),
                        ("IsE14OrLater", True),
                        ("IsProvisionedServer", False),
                        ("IsUnifiedMessagingServer", "UnifiedMessaging" in x.roles),
                        ("OrganizationalUnit", f"{self.s.domain}/{x.name}"),
                        ("AdminDisplayVersion", t.server_version(x.version)),
                        ("Site", self._site_id(x.site)),
                        ("ServerRole", t.server_role(x.roles)),
                        ("Identity", self._server_id(x)),
                        *self._common(dn, "ms-Exch-Exchange-Server", ("server", "msExchExchangeServer")),
                    ],
                )
            )
        return result

    def _databases(self, public: bool) -> list[ExchangeObject]:
        kind = "PublicFolderDatabase" if public else "MailboxDatabase"
        databases = list(self.s.public_folder_databases if public else self.s.databases)
        if self.s.hostile and not public and databases:
            first = databases[0]
            databases.append(type(first)(f"DB{HOSTILE}", first.server, first.rpc_client_access_server))
        result = []
        for db in databases:
            owner = self.server(db.server)
            server_id = self._server_id(owner) if owner else self._id(db.server, f"CN={db.server}")
            dn = f"CN={db.name},CN=Databases,CN={ADMIN_GROUP},CN=Administrative Groups,{self._org}"
            result.append(
                _served(
                    (f"{t.SYSCONFIG}.{kind}", f"{t.SYSCONFIG}.Database", *t.CONFIG_OBJECT),
                    db.name,
                    [
                        ("Name", db.name),
                        ("Server", server_id),
                        ("ServerName", db.server),
                        ("MasterServerOrAvailabilityGroup", server_id),
                        ("RpcClientAccessServer", db.rpc_client_access_server),
                        ("IsMailboxDatabase", not public),
                        ("IsPublicFolderDatabase", public),
                        ("Recovery", False),
                        (
                            "Mounted",
                            None,
                        ),  # only with -Status (Get-MailboxDatabase's -Status, cmdlet reference)
                        ("AdminDisplayVersion", t.server_version(owner.version if owner else "")),
                        ("Identity", self._id(db.name, dn)),
                        *self._common(dn, f"ms-Exch-{'Public' if public else 'Private'}-MDB", ("msExchMDB",)),
                    ],
                )
            )
        return result

    def mailbox_databases(self) -> list[ExchangeObject]:
        return self._databases(public=False)

    def public_folder_databases(self) -> list[ExchangeObject]:
        return self._databases(public=True)

    def client_access_arrays(self) -> list[ExchangeObject]:
        result = []
        for a in self.s.arrays:
            members = [self._server_id(x) for x in self.s.servers if x.is_cas and x.site == a.site]
            dn = f"CN={a.name},CN=Arrays,{self._org}"
            result.append(
                _served(
                    (f"{t.SYSCONFIG}.ClientAccessArray", f"{t.SYSCONFIG}.Server", *t.CONFIG_OBJECT),
                    a.name,
                    [
                        ("Name", a.name),
                        ("Fqdn", a.fqdn),
                        ("Site", self._site_id(a.site)),
                        ("SiteName", a.site),
                        (
                            "Members",
                            t.multi_valued(
                                members,
                                f"{t.DIRECTORY}.ADObjectId",
                                f"{t.DIRECTORY}, Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35",
                            ),
                        ),
                        ("Identity", self._id(a.name, dn)),
                        *self._common(dn, "ms-Exch-Client-Access-Array", ("msExchClientAccessArray",)),
                    ],
                )
            )
        return result

    def client_access_servers(self) -> list[ExchangeObject]:
        scp = f"https://autodiscover.{self.s.smtp_domains[0]}/Autodiscover/Autodiscover.xml"
        return [
            _served(
                (
                    f"{t.DIRECTORY}.Management.ClientAccessServer",
                    f"{t.DIRECTORY}.Management.ADPresentationObject",
                    *t.AD_OBJECT,
                ),
                x.name,
                [
                    ("Name", x.name),
                    ("Fqdn", x.fqdn(self.s.domain)),
                    ("OutlookAnywhereEnabled", bool(x.outlook_anywhere_host)),
                    ("AutoDiscoverServiceInternalUri", t.uri(scp)),
                    ("AutoDiscoverSiteScope", t.multi_valued([x.site])),
                    ("Identity", self._server_id(x)),
                    *self._common(
                        self._server_dn(x), "ms-Exch-Exchange-Server", ("server", "msExchExchangeServer")
                    ),
                ],
            )
            for x in self.s.servers
            if x.is_cas
        ]

    # --- per server ------------------------------------------------------------------------
    def rpc_client_access(self, server: LabServer) -> list[ExchangeObject]:
        hosts_pf = any(p.server.lower() == server.name.lower() for p in self.s.public_folder_databases)
        if not (server.is_cas or hosts_pf):
            return []
        dn = f"CN=RpcClientAccess,CN=Protocols,{self._server_dn(server)}"
        return [
            _served(
                (f"{t.SYSCONFIG}.ExchangeRpcClientAccess", *t.CONFIG_OBJECT),
                "RpcClientAccess",
                [
                    ("Server", self._server_id(server)),
                    ("Name", "RpcClientAccess"),
                    ("EncryptionRequired", server.encryption_required),
                    ("BlockedClientVersions", ""),
                    ("MaximumConnections", 65536),
                    ("Identity", self._id(f"{server.name}\\RpcClientAccess", dn)),
                    *self._common(dn, "ms-Exch-Rpc-Client-Access", ("msExchRpcClientAccess",)),
                ],
            )
        ]

    def _web_site(self) -> str:
        return "Default Web Site" + (HOSTILE if self.s.hostile else "")

    def virtual_directories(self, noun: str, server: LabServer) -> list[ExchangeObject]:
        if not server.is_cas:
            return []
        vdir, path, auth, own_types = VDIRS[noun]
        name = f"{vdir} ({self._web_site()})"
        fqdn = server.fqdn(self.s.domain)
        if noun == "Autodiscover":
            # Exchange leaves both empty: clients find Autodiscover through the SCP and DNS.
            internal = external = ""
        elif noun == "Oab":
            # Setup writes an http:// InternalUrl (the OAB virtual directory does not require SSL).
            internal = f"http://{fqdn}{path}"
            external = f"https://{server.external_host}{path}" if server.external_host else ""
        else:
            internal = f"https://{fqdn}{path}"
            external = f"https://{server.external_host}{path}" if server.external_host else ""
        methods = t.ad_multi_valued(
            [t.AuthenticationMethod[m] for m in auth], f"{t.SYSCONFIG}.AuthenticationMethod"
        )
        dn = f"CN={name},CN=HTTP,CN=Protocols,{self._server_dn(server)}"
        properties: list[tuple[str, Any]] = [
            ("Name", name),
            ("InternalAuthenticationMethods", methods),
            ("ExternalAuthenticationMethods", methods),
            ("BasicAuthentication", "Basic" in auth),
            ("WindowsAuthentication", "WindowsIntegrated" in auth or "Ntlm" in auth),
            ("MetabasePath", f"IIS://{fqdn}/W3SVC/1/ROOT/{vdir}"),
            ("AdminDisplayVersion", t.server_version(server.version)),
            ("Server", self._server_id(server)),
            ("InternalUrl", t.uri(internal)),
            ("ExternalUrl", t.uri(external)),
            ("Identity", self._id(f"{server.name}\\{name}", dn)),
            *self._common(dn, "ms-Exch-Virtual-Directory", ("msExchVirtualDirectory",)),
        ]
        if noun == "Owa":  # FailbackUrl: OWA only, 2010 SP1 and later (Set-OwaVirtualDirectory -FailbackUrl)
            failback = f"https://{server.failback_host}/owa" if server.failback_host else ""
            properties.insert(1, ("FailbackUrl", t.uri(failback)))
            properties.insert(1, ("FormsAuthentication", "Fba" in auth))
        types = (*(f"{t.SYSCONFIG}.{x}" for x in own_types), *_VDIR_BASE)
        return [_served(types, f"{server.name}\\{name}", properties)]

    def outlook_anywhere(self, server: LabServer) -> list[ExchangeObject]:
        if not (server.is_cas and server.outlook_anywhere_host):
            return []  # Outlook Anywhere not enabled: no object at all (Enable-OutlookAnywhere, 2010)
        name = f"Rpc ({self._web_site()})"
        dn = f"CN={name},CN=HTTP,CN=Protocols,{self._server_dn(server)}"
        host = server.outlook_anywhere_host
        iis = t.multi_valued(
            [t.AuthenticationMethod.Basic, t.AuthenticationMethod.Ntlm],
            f"{t.SYSCONFIG}.AuthenticationMethod",
            f"{t.DIRECTORY}, Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35",
        )
        return [
            _served(
                (f"{t.SYSCONFIG}.ADRpcHttpVirtualDirectory", *_VDIR_BASE),
                f"{server.name}\\{name}",
                [
                    ("Name", name),
                    ("Server", self._server_id(server)),
                    (
                        "ExternalHostname",
                        t.obj(
                            ("Microsoft.Exchange.Data.Hostname", "System.Object"),
                            host,
                            [("HostnameString", host), ("IsIPAddress", False)],
                        ),
                    ),
                    ("ClientAuthenticationMethod", t.AuthenticationMethod[server.outlook_anywhere_auth]),
                    ("IISAuthenticationMethods", iis),
                    ("SSLOffloading", False),
                    ("MetabasePath", f"IIS://{server.fqdn(self.s.domain)}/W3SVC/1/ROOT/Rpc"),
                    ("Identity", self._id(f"{server.name}\\{name}", dn)),
                    *self._common(
                        dn, "ms-Exch-Rpc-Http-Virtual-Directory", ("msExchRpcHttpVirtualDirectory",)
                    ),
                ],
            )
        ]

    def exchange_certificates(self, server: LabServer) -> list[ExchangeObject]:
        return [self._certificate(server, c) for c in self._certificates(server)]

    def _certificate(self, server: LabServer, c: LabCertificate) -> ExchangeObject:
        cert = x509.load_der_x509_certificate(c.der)
        thumbprint = hashlib.sha1(c.der).hexdigest().upper()
        subject = cert.subject.rfc4514_string()
        if self.s.hostile and not c.is_self_signed:  # markup from a server must render as text
            subject += f", O={HOSTILE}"
        issuer = cert.issuer.rfc4514_string()
        serial = f"{cert.serial_number:X}"
        try:
            names = cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            names = []
        not_before = cert.not_valid_before_utc
        not_after = cert.not_valid_after_utc
        text = (
            "".join(
                f"[{label}]\r\n  {value}\r\n\r\n"
                for label, value in (
                    ("Subject", subject),
                    ("Issuer", issuer),
                    ("Serial Number", serial),
                    ("Not Before", not_before.strftime("%m/%d/%Y %H:%M:%S")),
                    ("Not After", not_after.strftime("%m/%d/%Y %H:%M:%S")),
                )
            )
            + f"[Thumbprint]\r\n  {thumbprint}\r\n"
        )
        key_size = getattr(cert.public_key(), "key_size", 0)
        wire = t.obj(
            (
                CERTIFICATE_TYPE,
                "System.Security.Cryptography.X509Certificates.X509Certificate2",
                "System.Security.Cryptography.X509Certificates.X509Certificate",
                "System.Object",
            ),
            text,
            [("RawData", PSByteArray(cert.public_bytes(serialization.Encoding.DER)))],
        )
        properties: list[tuple[str, Any]] = [
            ("Thumbprint", thumbprint),
            ("Services", t.services(c.services)),
            ("Status", t.CertificateStatus[c.status]),
            ("Subject", subject),
            ("Issuer", issuer),
            ("SerialNumber", serial),
            ("NotBefore", t.when(not_before)),
            ("NotAfter", t.when(not_after)),
            ("CertificateDomains", t.multi_valued(names, "Microsoft.Exchange.Data.SmtpDomainWithSubdomains")),
            ("IsSelfSigned", c.is_self_signed),
            ("HasPrivateKey", True),
            ("PublicKeySize", key_size),
            ("RootCAType", "Registry" if c.is_self_signed else "ThirdParty"),
            ("Identity", f"{server.fqdn(self.s.domain)}\\{thumbprint}"),
        ]
        return ExchangeObject(wire, tuple(properties))


def _guid(text: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, text.lower())

"""A lab scenario: the Exchange organisation the lab simulates, loaded from a TOML file.

The file declares what an administrator would see (servers, roles, sites, databases, arrays,
names, what the inventory declares); everything else (virtual directory URLs, certificates,
registry values) follows Exchange 2010 defaults. Faults (``scenario.faults``) change a loaded scenario.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cas_conformance.errors import LabError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SP3 = "Version 14.3 (Build 123.4)"
DEFAULT_PASSWORD = "Lab-Passw0rd!"
DEFAULT_USER = "labadmin"
#: the newest TLS version a WinRM HTTPS listener may offer (``[organisation] winrm_tls``)
WINRM_TLS_VERSIONS = ("1.0", "1.1", "1.2")


@dataclass
class LabServer:
    name: str
    site: str
    roles: list[str]
    version: str = SP3
    external_host: str = ""  # OWA/EWS/EAS/OAB ExternalUrl host (CAS only)
    failback_host: str = ""  # OWA FailbackUrl host
    outlook_anywhere_host: str = ""
    encryption_required: bool = False
    # Exchange 2010 defaults: no EnablePushNotifications value, no Maximum Polling Frequency
    # value (60000 ms), MSExchangeRPC installed, Running and Automatic on every Mailbox and CAS.
    push_notifications: bool = False
    polling_ms: int | None = None
    rpc_service_state: str = "Running"
    rpc_service_start_mode: str = "Auto"
    # The MSExchange RpcClientAccess counter category: None = Exchange's default (installed with
    # the Client Access role only); True/False = installed or not, whatever the roles.
    rpc_counters: bool | None = None
    event_106: bool = False  # an Event 106 about the MSExchange RpcClientAccess category
    other_event_106: bool = False  # a 106 of another category (its process list names the RPC service)
    winhttp_proxy: str | None = None
    winhttp_bypass: list[str] = field(default_factory=list)
    winhttp_stale_proxy: str = ""  # a proxy string stored under direct-access flags (netsh shows direct)
    # address roles or server names (runtime addresses) declared as this host's failback_addresses
    failback_addresses: list[str] = field(default_factory=list)
    certificate_status: str | None = None  # overrides the status derived from the PKI
    # drift between array members (DRIFT-*): this server's own Outlook Anywhere and IIS certificate
    outlook_anywhere_auth: str = "Basic"
    certificate_renewed: bool = False  # its IIS certificate: same names, another thumbprint
    certificate_extra_names: list[str] = field(default_factory=list)  # another certificate, more names
    snapin_missing: bool = False
    network_fault: str = ""  # a HOST_FAULTS name (scenario.faults), switched on with NAME@host

    @property
    def is_cas(self) -> bool:
        return "ClientAccess" in self.roles

    @property
    def is_mailbox(self) -> bool:
        return "Mailbox" in self.roles

    @property
    def has_rpc_counters(self) -> bool:
        return self.is_cas if self.rpc_counters is None else self.rpc_counters

    def fqdn(self, domain: str) -> str:
        return f"{self.name.lower()}.{domain}"


@dataclass
class LabDatabase:
    name: str
    server: str
    rpc_client_access_server: str


@dataclass
class LabArray:
    name: str
    fqdn: str
    site: str


@dataclass
class Scenario:
    name: str
    organisation: str
    domain: str
    netbios: str
    servers: list[LabServer]
    databases: list[LabDatabase] = field(default_factory=list)
    public_folder_databases: list[LabDatabase] = field(default_factory=list)
    arrays: list[LabArray] = field(default_factory=list)
    smtp_domains: list[str] = field(default_factory=list)
    declared: dict[str, str] = field(default_factory=dict)
    # DNS: extra names -> an address role ("lb-mail", "lb-autodiscover", ...) or a server name
    names: dict[str, str] = field(default_factory=dict)
    mx_host: str = ""
    probe_mailbox: str = ""
    probe_database: str = ""
    # published certificate (IIS/SMTP on every CAS) and PKI behaviour
    certificate_names: list[str] = field(default_factory=list)
    certificate_days_left: int = 365
    certificate_expired: bool = False
    certificate_revoked: bool = False
    intermediate_sha1: bool = False
    ocsp_reachable: bool = True
    ocsp_delay: float = 0.0
    # network behaviour
    dns_removed: set[str] = field(default_factory=set)
    closed_443: set[str] = field(default_factory=set)
    ews_status: int = 401
    autodiscover_expr_server: str = ""
    smtp_starttls: bool = True
    # the newest TLS version the WinRM HTTPS listeners offer: Windows Server 2008 R2 as shipped
    # (Exchange 2010's platform) has TLS 1.1 and 1.2 disabled in Schannel, so "1.0" by default
    winrm_tls: str = "1.0"
    hostile: bool = False
    faults: list[str] = field(default_factory=list)

    def server(self, name: str) -> LabServer:
        """The server *name* (short name or FQDN) names, while the scenario is still being shaped
        (faults); a running lab looks servers up in :func:`servers_by_name` once built."""
        found = servers_by_name(self).get(server_key(name))
        if found is None:
            raise LabError(f"scenario {self.name} has no server {name}")
        return found

    def site_path(self, site: str) -> str:
        return f"{self.domain}/Configuration/Sites/{site}"


def server_key(name: str) -> str:
    """A server's short name or FQDN as every lookup compares it (any case, a final dot or not)."""
    return name.strip().lower().rstrip(".")


def servers_by_name(scenario: Scenario) -> dict[str, LabServer]:
    """Each server of *scenario* under its short name and its FQDN, as :func:`server_key` spells them."""
    return {key: x for x in scenario.servers for key in (x.name.lower(), x.fqdn(scenario.domain))}


def _server(data: dict[str, Any], declared: dict[str, str]) -> LabServer:
    server = LabServer(
        name=str(data["name"]),
        site=str(data.get("site", "Default-First-Site-Name")),
        roles=[str(r) for r in data.get("roles", ["Mailbox", "ClientAccess", "HubTransport"])],
    )
    for key, value in data.items():
        if key in ("name", "site", "roles"):
            continue
        if not hasattr(server, key):
            raise LabError(f"unknown server setting {key!r} for {server.name}")
        setattr(server, key, value)
    if server.winhttp_proxy is None and declared.get("winhttp_proxy", "none") != "none":
        server.winhttp_proxy = declared["winhttp_proxy"]
    return server


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file; raise LabError naming the file on any problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LabError(f"{path}: cannot read the lab scenario: {exc}") from None
    try:
        org = data["organisation"]
        declared = {str(k): str(v) for k, v in data.get("declared", {}).items()}
        domain = str(org["domain"])
        scenario = Scenario(
            name=str(org.get("scenario", path.stem)),
            organisation=str(org.get("name", "Contoso")),
            domain=domain,
            netbios=str(org.get("netbios", domain.split(".")[0].upper())),
            servers=[_server(s, declared) for s in data.get("servers", [])],
            databases=[
                LabDatabase(str(d["name"]), str(d["server"]), str(d.get("rpc_client_access_server", "")))
                for d in data.get("databases", [])
            ],
            public_folder_databases=[
                LabDatabase(str(d["name"]), str(d["server"]), "")
                for d in data.get("public_folder_databases", [])
            ],
            arrays=[LabArray(str(a["name"]), str(a["fqdn"]), str(a["site"])) for a in data.get("arrays", [])],
            smtp_domains=[str(d) for d in org.get("smtp_domains", [domain])],
            declared=declared,
            names={str(k): str(v) for k, v in data.get("names", {}).items()},
            mx_host=str(org.get("mx_host", f"smtp.{domain}")),
            probe_mailbox=str(org.get("probe_mailbox", "")),
            probe_database=str(org.get("probe_database", "")),
            certificate_names=[str(n) for n in data.get("certificate", {}).get("names", [])],
            faults=[str(f) for f in data.get("faults", [])],
            winrm_tls=str(org.get("winrm_tls", "1.0")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LabError(f"{path}: malformed lab scenario: {exc!r}") from None
    if scenario.winrm_tls not in WINRM_TLS_VERSIONS:
        choices = ", ".join(f'"{v}"' for v in WINRM_TLS_VERSIONS)
        raise LabError(f"{path}: [organisation] winrm_tls = {scenario.winrm_tls!r}: use one of {choices}")
    if not scenario.servers:
        raise LabError(f"{path}: the scenario declares no servers")
    return scenario

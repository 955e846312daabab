"""Typed, validated settings built from the inventory: per WinRM host, and for client-side-only checks.

Every variable the checks read is parsed here, once, into the type the checks want, with the
defaults docs/variables.md lists (parsers in :mod:`~cas_conformance.settings.values`). A bad value stops the run before any probe with ``file:line`` of the
line that set it (for a host, the line that won the Ansible precedence), naming the variable and
what it accepts. Passwords travel as :class:`Secret`, which never prints its value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from cas_conformance.channels.connect_to import ConnectToRule
from cas_conformance.domain.secret import Secret
from cas_conformance.inventory import Host, Inventory, VarMapping
from cas_conformance.settings import values
from cas_conformance.settings.connect_to import parse_connect_to
from cas_conformance.settings.kerberos import KERBEROS_VARIABLES, KerberosSettings, kerberos_settings
from cas_conformance.settings.reader import Reader
from cas_conformance.settings.values import DEFAULT_POLLING_REGISTRY_KEY

TRANSPORTS = ("ntlm", "kerberos", "credssp", "basic")
SCHEMES = ("https", "http")
OUTLOOK2003_CLIENTS = ("none", "online", "cached")
EXCHANGE_POWERSHELL_AUTH = ("kerberos", "basic", "negotiate", "ntlm")


def uses_kerberos(transport: str, exchange_powershell_auth: str) -> bool:
    """Whether a host may log on with Kerberos: the WinRM collector's ``kerberos`` transport, or
    Exchange remote PowerShell's ``kerberos`` or ``negotiate`` (SPNEGO, which tries Kerberos first)."""
    return transport == "kerberos" or exchange_powershell_auth in ("kerberos", "negotiate")


@dataclass(frozen=True)
class RunSettings:
    """The all:vars view: for checks that need no WinRM host (the ``[published]`` names), and the
    collector parameters shared by every server's script (lookback, polling key)."""

    dns_domain: str | None
    dns_servers: tuple[tuple[str, int], ...]
    smtp_domains: tuple[str, ...]
    tls_ca_bundle: str | None
    connect_to: tuple[ConnectToRule, ...]
    dns_timeout: float
    http_timeout: float
    probe_credentials: str | None
    cert_expiry_warning_days: int
    eventlog_lookback_days: int
    polling_registry_key: str
    #: Exchange remote PowerShell: the Client Access servers to open the session to, in order
    #: (empty: the inventory's hosts in order), how to authenticate, and over which scheme
    exchange_powershell_hosts: tuple[str, ...] = ()
    exchange_powershell_auth: str = "kerberos"
    exchange_powershell_scheme: str = "https"
    exchange_powershell_port: int | None = None


@dataclass(frozen=True)
class HostSettings:
    name: str
    address: str
    port: int | None
    user: str | None
    transport: str
    scheme: str
    cert_validation: bool
    ca_trust_path: str | None
    password: Secret | None = field(repr=False)
    dns_domain: str | None
    dns_servers: tuple[tuple[str, int], ...]
    smtp_domains: tuple[str, ...]
    winhttp_proxy: str | None
    outlook2003_clients: str
    outlook2003_encryption_enforced: bool
    tls_ca_bundle: str | None
    cert_expiry_warning_days: int
    eventlog_lookback_days: int
    probe_credentials: str | None
    polling_registry_key: str
    connect_to: tuple[ConnectToRule, ...]
    winrm_timeout: float
    dns_timeout: float
    http_timeout: float
    extra: Mapping[str, str]
    peer_group: str | None = None  # overrides the CAS array / AD site this host is compared within
    #: failback_addresses: addresses an OWA FailbackUrl may resolve to besides the server's own
    failback_addresses: tuple[str, ...] = ()
    kerberos: KerberosSettings = field(default_factory=KerberosSettings)
    exchange_powershell_hosts: tuple[str, ...] = ()
    exchange_powershell_auth: str = "kerberos"
    exchange_powershell_scheme: str = "https"
    exchange_powershell_port: int | None = None
    #: whether winhttp_proxy is set (for the host or the run): winhttp_proxy None is direct access
    #: when it is (``none``), and no declared proxy at all when it is not (PROXY-01 then only reports)
    winhttp_proxy_declared: bool = False

    @property
    def uses_kerberos(self) -> bool:
        return uses_kerberos(self.transport, self.exchange_powershell_auth)

    @property
    def winrm_port(self) -> int:
        """``ansible_port``, else the WinRM default for the scheme (5986 https, 5985 http)."""
        if self.port is not None:
            return self.port
        return 5986 if self.scheme == "https" else 5985


# Variables with a typed field; every other variable lands in HostSettings.extra.
KNOWN_VARIABLES = frozenset(
    {
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_password",
        "ansible_winrm_transport",
        "ansible_winrm_scheme",
        "ansible_winrm_server_cert_validation",
        "ansible_winrm_ca_trust_path",
        "dns_domain",
        "dns_servers",
        "smtp_domains",
        "winhttp_proxy",
        "outlook2003_clients",
        "outlook2003_encryption",
        "tls_ca_bundle",
        "cert_expiry_warning_days",
        "eventlog_lookback_days",
        "probe_credentials",
        "polling_registry_key",
        "connect_to",
        "winrm_timeout",
        "dns_timeout",
        "http_timeout",
        "peer_group",
        "failback_addresses",
        "exchange_powershell_hosts",
        "exchange_powershell_auth",
        "exchange_powershell_scheme",
        "exchange_powershell_port",
        *KERBEROS_VARIABLES,
    }
)


def _run_settings(reader: Reader, domain_default: str | None) -> RunSettings:
    dns_domain = reader.get("dns_domain", values.dns_name, domain_default)
    powershell_auth = reader.get(
        "exchange_powershell_auth", values.choice(*EXCHANGE_POWERSHELL_AUTH), "kerberos"
    )
    powershell_scheme = reader.get("exchange_powershell_scheme", values.choice(*SCHEMES), "https")
    if powershell_auth == "basic" and powershell_scheme != "https":
        var = (
            "exchange_powershell_scheme"
            if "exchange_powershell_scheme" in reader.values
            else "exchange_powershell_auth"
        )
        raise reader.inventory.error(
            reader.host,
            var,
            f"invalid {var}: exchange_powershell_auth = basic needs exchange_powershell_scheme = https (Basic "
            "over plain HTTP would send the password in clear text; over http use kerberos, the /PowerShell "
            "virtual directory's default)",
        )
    return RunSettings(
        dns_domain=dns_domain,
        dns_servers=reader.get("dns_servers", values.dns_servers, ()),
        smtp_domains=reader.get("smtp_domains", values.dns_names, (dns_domain,) if dns_domain else ()),
        tls_ca_bundle=reader.ca_bundle("tls_ca_bundle"),
        connect_to=reader.get("connect_to", parse_connect_to, ()),
        dns_timeout=reader.get("dns_timeout", values.seconds, 5.0),
        http_timeout=reader.get("http_timeout", values.seconds, 15.0),
        probe_credentials=reader.get("probe_credentials", values.env_prefix, None),
        cert_expiry_warning_days=reader.get("cert_expiry_warning_days", values.days(0), 30),
        eventlog_lookback_days=reader.get("eventlog_lookback_days", values.days(1), 7),
        polling_registry_key=reader.get(
            "polling_registry_key", values.registry_key, DEFAULT_POLLING_REGISTRY_KEY
        ),
        exchange_powershell_hosts=reader.get("exchange_powershell_hosts", values.dns_names, ()),
        exchange_powershell_auth=powershell_auth,
        exchange_powershell_scheme=powershell_scheme,
        exchange_powershell_port=reader.get("exchange_powershell_port", values.port, None),
    )


def _domain_of(name: str) -> str | None:
    """The part after the first dot of a host name, when that is a DNS name (not an IP address)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        _, dot, rest = name.partition(".")
        try:
            return values.dns_name(rest) if dot else None
        except ValueError:
            return None
    return None


def host_settings(inventory: Inventory, host: Host, *, password: Secret | None) -> HostSettings:
    """Validated settings of one WinRM host; *password* (the run's) wins over its ansible_password."""
    reader = Reader(inventory, host)
    address = reader.get("ansible_host", values.address, host.name)
    common = _run_settings(reader, _domain_of(host.name) or _domain_of(address))
    transport = reader.get("ansible_winrm_transport", values.choice(*TRANSPORTS), "ntlm")
    user = reader.text("ansible_user")
    if transport == "kerberos" and user and "\\" in user:
        raise inventory.error(
            host,
            "ansible_user",
            f"invalid ansible_user for Kerberos: {user} is DOMAIN\\user; Kerberos needs the "
            "principal, user@REALM (e.g. labadmin@CONTOSO.LAB)",
        )
    own_password = reader.text("ansible_password")
    if password is None:
        # A Vault-encrypted ansible_password is never in host.vars, only in host.secrets.
        password = host.secrets.get("ansible_password") or (Secret(own_password) if own_password else None)
    return HostSettings(
        name=host.name,
        address=address,
        port=reader.get("ansible_port", values.port, None),
        user=user,
        transport=transport,
        scheme=reader.get("ansible_winrm_scheme", values.choice(*SCHEMES), "https"),
        cert_validation=reader.get(
            "ansible_winrm_server_cert_validation", values.choice("validate", "ignore"), "validate"
        )
        == "validate",
        ca_trust_path=reader.ca_bundle("ansible_winrm_ca_trust_path"),
        password=password,
        winhttp_proxy=reader.get("winhttp_proxy", values.proxy, None),
        winhttp_proxy_declared="winhttp_proxy" in reader.values,
        outlook2003_clients=reader.get("outlook2003_clients", values.choice(*OUTLOOK2003_CLIENTS), "none"),
        outlook2003_encryption_enforced=reader.get(
            "outlook2003_encryption", values.choice("enforced", "none"), "none"
        )
        == "enforced",
        winrm_timeout=reader.get("winrm_timeout", values.seconds, 120.0),
        peer_group=reader.get("peer_group", values.peer_group, None),
        failback_addresses=reader.get("failback_addresses", values.ip_addresses, ()),
        extra=VarMapping({k: v for k, v in host.vars.items() if k not in KNOWN_VARIABLES}),
        # Kerberos variables count for the WinRM collector and for Exchange remote PowerShell
        kerberos=(
            kerberos_settings(reader)
            if uses_kerberos(transport, common.exchange_powershell_auth)
            else KerberosSettings()
        ),
        **{f.name: getattr(common, f.name) for f in fields(common)},
    )


def run_settings(inventory: Inventory) -> RunSettings:
    """Validated all:vars settings for client-side-only checks (client-side probes authenticate
    with ``probe_credentials``, never with the WinRM password)."""
    return _run_settings(Reader(inventory, None), None)

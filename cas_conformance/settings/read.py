"""Typed, validated settings built from the inventory: per WinRM host, and for client-side-only checks.

Every variable the checks read is parsed here, once, into the type the checks want, with the
defaults of REQUIREMENTS.md. A bad value stops the run before any probe with ``file:line`` of the
line that set it (for a host, the line that won the Ansible precedence), naming the variable and
what it accepts. Passwords travel as :class:`Secret`, which never prints its value.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TypeVar

from cas_conformance.channels.connect_to import ConnectToRule, parse_connect_to
from cas_conformance.domain.secret import Secret
from cas_conformance.inventory import Host, Inventory, VarMapping
from cas_conformance.settings.kerberos import KERBEROS_VARIABLES, KerberosSettings, kerberos_settings

PASSWORD_ENV = "CAS_CONFORMANCE_PASSWORD"
DEFAULT_POLLING_REGISTRY_KEY = r"HKLM:\SYSTEM\CurrentControlSet\Services\MSExchangeRPC\ParametersSystem"
TRANSPORTS = ("ntlm", "kerberos", "credssp", "basic")
SCHEMES = ("https", "http")
OUTLOOK2003_CLIENTS = ("none", "online", "cached")
EXCHANGE_POWERSHELL_AUTH = ("kerberos", "basic", "negotiate", "ntlm")


def uses_kerberos(transport: str, exchange_powershell_auth: str) -> bool:
    """Whether a host may log on with Kerberos: the WinRM collector's ``kerberos`` transport, or
    Exchange remote PowerShell's ``kerberos`` or ``negotiate`` (SPNEGO, which tries Kerberos first)."""
    return transport == "kerberos" or exchange_powershell_auth in ("kerberos", "negotiate")


T = TypeVar("T")

_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_ENV_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Every character PowerShell reads as a quote (including the typographic ones), plus $ and the
# backtick: refused in values a collector script may embed.
_POWERSHELL_SPECIAL = "'\"`$\u2018\u2019\u201a\u201b\u201c\u201d\u201e"
_REGISTRY_KEY = re.compile(
    rf"(?:HK[A-Z_]+:|Registry::HKEY_[A-Z_]+)\\[^{_POWERSHELL_SPECIAL}\x00-\x1f]+", re.IGNORECASE
)
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_MAX_DAYS = 3650
_MAX_SECONDS = 86400.0


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


# --- value parsers: text -> typed value, or ValueError saying what is accepted -------------------


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def _port(text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and 0 < int(text) < 65536):
        raise ValueError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _days(lowest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = text.strip()
        if not (
            value.isascii() and value.isdigit() and len(value) <= 6 and lowest <= int(value) <= _MAX_DAYS
        ):
            raise ValueError(f"{text!r} is not a whole number of days from {lowest} to {_MAX_DAYS}")
        return int(value)

    return parse


def _seconds(text: str) -> float:
    value = text.strip()
    if not _DECIMAL.fullmatch(value) or not 0 < float(value) <= _MAX_SECONDS:
        raise ValueError(f"{text!r} is not a positive number of seconds (at most {_MAX_SECONDS:g})")
    return float(value)


def _dns_name(text: str) -> str:
    name = text.strip().removesuffix(".")
    if not name or len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{text!r} is not a DNS name (dot-separated labels of letters, digits, '-' and '_')")
    return name


def _dns_names(text: str) -> tuple[str, ...]:
    names: list[str] = []
    for raw in text.split(","):
        if raw.strip() and (name := _dns_name(raw)).lower() not in (n.lower() for n in names):
            names.append(name)
    return tuple(names)


def _dns_servers(text: str) -> tuple[tuple[str, int], ...]:
    """``ip[:port]``, comma-separated; IPv6 as ``[addr]:port`` (or bare, on port 53)."""
    servers: list[tuple[str, int]] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        bracketed = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", entry)
        if bracketed:
            address, port = bracketed[1], bracketed[2]
        elif entry.count(":") == 1:
            address, port = entry.split(":")
        else:
            address, port = entry, None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not ip[:port] (an IP address, optional port; IPv6 as [addr]:port)"
            ) from None
        servers.append((str(ip), 53 if port is None else _port(port)))
    return tuple(servers)


def _ip_addresses(text: str) -> tuple[str, ...]:
    """Comma-separated IP addresses (IPv4 or IPv6), each once, in the order given."""
    addresses: list[str] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            ip = str(ipaddress.ip_address(entry))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address (a comma-separated list of them)") from None
        if ip not in addresses:
            addresses.append(ip)
    return tuple(addresses)


def _address(text: str) -> str:
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if not value or any(ch.isspace() for ch in value) or not value.isprintable():
        raise ValueError(f"{text!r} is not a host name or IP address")
    return value


def _proxy(text: str) -> str | None:
    value = text.strip()
    if value.lower() == "none":
        return None
    if not value or any(ch.isspace() or ch in _POWERSHELL_SPECIAL for ch in value) or not value.isprintable():
        raise ValueError(f"{text!r} is not a proxy (host:port, or none)")
    return value


def _peer_group(text: str) -> str:
    value = text.strip()
    if not value or len(value) > 64 or not value.isprintable() or "|" in value:
        raise ValueError(f"{text!r} is not a peer group name (1-64 printable characters, no '|')")
    return value


def _env_prefix(text: str) -> str:
    if not _ENV_PREFIX.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not an environment variable prefix (letters, digits, '_')")
    return text.strip()


def _registry_key(text: str) -> str:
    if not _REGISTRY_KEY.fullmatch(text.strip()):
        raise ValueError(
            f"{text!r} is not a registry path such as {DEFAULT_POLLING_REGISTRY_KEY} "
            "(on a host line, backslashes need single quotes)"
        )
    return text.strip()


@functools.lru_cache(maxsize=64)
def _is_ca_bundle(path: str, _stamp: tuple[int, int]) -> bool:
    """Whether *path* loads as the channels load it: a PEM file of CA certificates (read once per
    file and version, not once per host)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError):
        return False
    return True


class _Reader:
    """Reads one variable set, turning a parser's ValueError into an InventoryError at the var's line."""

    def __init__(self, inventory: Inventory, host: Host | None) -> None:
        self.inventory = inventory
        self.host = host
        self.values = host.vars if host is not None else inventory.all_vars

    def get(self, var: str, parse: Callable[[str], T], default: T) -> T:
        text = self.values.get(var)
        if text is None:
            return default
        try:
            return parse(text)
        except ValueError as exc:
            raise self.inventory.error(self.host, var, f"invalid {var}: {exc}") from None

    def path(self, var: str) -> str | None:
        """A local file, relative to the inventory's directory; it must exist and be readable."""
        text = self.values.get(var)
        if text is None or not text.strip():
            return None
        base = self.inventory.base_dir
        resolved = os.path.normpath(os.path.join(base, os.path.expanduser(text.strip())))
        if not (os.path.isfile(resolved) and os.access(resolved, os.R_OK)):
            raise self.inventory.error(self.host, var, f"invalid {var}: {resolved} is not a readable file")
        return resolved

    def ca_bundle(self, var: str) -> str | None:
        """:meth:`path` holding PEM CA certificates: a certificate exported from Windows is often
        DER (``.cer``), which no TLS channel here can load."""
        path = self.path(var)
        if path is None:
            return None
        stat = os.stat(path)
        if not _is_ca_bundle(path, (stat.st_mtime_ns, stat.st_size)):
            raise self.inventory.error(
                self.host,
                var,
                f"invalid {var}: {path} is not a PEM bundle of CA certificates (a DER .cer converts "
                "with: openssl x509 -inform der -in root.cer -out root.pem)",
            )
        return path

    def text(self, var: str) -> str | None:
        value = self.values.get(var)
        return value if value else None


def _run_settings(reader: _Reader, domain_default: str | None) -> RunSettings:
    dns_domain = reader.get("dns_domain", _dns_name, domain_default)
    powershell_auth = reader.get("exchange_powershell_auth", _choice(*EXCHANGE_POWERSHELL_AUTH), "kerberos")
    powershell_scheme = reader.get("exchange_powershell_scheme", _choice(*SCHEMES), "https")
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
        dns_servers=reader.get("dns_servers", _dns_servers, ()),
        smtp_domains=reader.get("smtp_domains", _dns_names, (dns_domain,) if dns_domain else ()),
        tls_ca_bundle=reader.ca_bundle("tls_ca_bundle"),
        connect_to=reader.get("connect_to", parse_connect_to, ()),
        dns_timeout=reader.get("dns_timeout", _seconds, 5.0),
        http_timeout=reader.get("http_timeout", _seconds, 15.0),
        probe_credentials=reader.get("probe_credentials", _env_prefix, None),
        cert_expiry_warning_days=reader.get("cert_expiry_warning_days", _days(0), 30),
        eventlog_lookback_days=reader.get("eventlog_lookback_days", _days(1), 7),
        polling_registry_key=reader.get("polling_registry_key", _registry_key, DEFAULT_POLLING_REGISTRY_KEY),
        exchange_powershell_hosts=reader.get("exchange_powershell_hosts", _dns_names, ()),
        exchange_powershell_auth=powershell_auth,
        exchange_powershell_scheme=powershell_scheme,
        exchange_powershell_port=reader.get("exchange_powershell_port", _port, None),
    )


def _domain_of(name: str) -> str | None:
    """The part after the first dot of a host name, when that is a DNS name (not an IP address)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        _, dot, rest = name.partition(".")
        try:
            return _dns_name(rest) if dot else None
        except ValueError:
            return None
    return None


def host_settings(inventory: Inventory, host: Host, *, password: Secret | None) -> HostSettings:
    """Validated settings of one WinRM host; *password* (the run's) wins over its ansible_password."""
    reader = _Reader(inventory, host)
    address = reader.get("ansible_host", _address, host.name)
    common = _run_settings(reader, _domain_of(host.name) or _domain_of(address))
    transport = reader.get("ansible_winrm_transport", _choice(*TRANSPORTS), "ntlm")
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
        port=reader.get("ansible_port", _port, None),
        user=user,
        transport=transport,
        scheme=reader.get("ansible_winrm_scheme", _choice(*SCHEMES), "https"),
        cert_validation=reader.get(
            "ansible_winrm_server_cert_validation", _choice("validate", "ignore"), "validate"
        )
        == "validate",
        ca_trust_path=reader.ca_bundle("ansible_winrm_ca_trust_path"),
        password=password,
        winhttp_proxy=reader.get("winhttp_proxy", _proxy, None),
        outlook2003_clients=reader.get("outlook2003_clients", _choice(*OUTLOOK2003_CLIENTS), "none"),
        outlook2003_encryption_enforced=reader.get(
            "outlook2003_encryption", _choice("enforced", "none"), "none"
        )
        == "enforced",
        winrm_timeout=reader.get("winrm_timeout", _seconds, 120.0),
        peer_group=reader.get("peer_group", _peer_group, None),
        failback_addresses=reader.get("failback_addresses", _ip_addresses, ()),
        extra=VarMapping({k: v for k, v in host.vars.items() if k not in KNOWN_VARIABLES}),
        # Kerberos variables count for the WinRM collector and for Exchange remote PowerShell
        kerberos=(
            kerberos_settings(reader)
            if uses_kerberos(transport, common.exchange_powershell_auth)
            else KerberosSettings()
        ),
        **{f.name: getattr(common, f.name) for f in fields(common)},
    )


def run_settings(inventory: Inventory, *, password: Secret | None) -> RunSettings:
    """Validated all:vars settings for client-side-only checks.

    *password* is accepted for symmetry with :func:`host_settings`; client-side probes
    authenticate with ``probe_credentials``, never with the WinRM password.
    """
    del password
    return _run_settings(_Reader(inventory, None), None)


def resolve_password(
    inventory: Inventory,
    *,
    environ: Mapping[str, str],
    ask: Callable[[], str] | None,
    warn: Callable[[str], None],
) -> Secret | None:
    """The run's WinRM password: a non-empty environment variable, else the prompt, else None.

    With neither, hosts that set ``ansible_password`` use it (see :func:`host_settings`), and
    *warn* is called once, pointing at the first line that puts a password in the inventory.
    """
    from_env = environ.get(PASSWORD_ENV)
    if from_env:
        return Secret(from_env)
    if ask is not None:
        return Secret(ask())
    # The file and line of each plain (not Vault-encrypted) ansible_password; lines may be absent
    # (a source read through ansible-inventory).
    places = sorted(
        (path, line or 0)
        for path, line in (
            inventory.source_of(h, "ansible_password")
            for h in inventory.hosts.values()
            if "ansible_password" in h.vars
        )
    )
    if places:
        path, line = places[0]
        warn(
            f"ansible_password in {path}{f':{line}' if line else ''} stores a password in the inventory; "
            f"prefer {PASSWORD_ENV} or --ask-pass"
        )
    return None

"""The value parsers of the settings: inventory text -> typed value, or ValueError saying what is
accepted (the reader turns it into a usage error at the variable's ``file:line``)."""

from __future__ import annotations

import functools
import ipaddress
import re
import ssl
from collections.abc import Callable

DEFAULT_POLLING_REGISTRY_KEY = r"HKLM:\SYSTEM\CurrentControlSet\Services\MSExchangeRPC\ParametersSystem"
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


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def port(text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and 0 < int(text) < 65536):
        raise ValueError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def days(lowest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = text.strip()
        if not (
            value.isascii() and value.isdigit() and len(value) <= 6 and lowest <= int(value) <= _MAX_DAYS
        ):
            raise ValueError(f"{text!r} is not a whole number of days from {lowest} to {_MAX_DAYS}")
        return int(value)

    return parse


def seconds(text: str) -> float:
    value = text.strip()
    if not _DECIMAL.fullmatch(value) or not 0 < float(value) <= _MAX_SECONDS:
        raise ValueError(f"{text!r} is not a positive number of seconds (at most {_MAX_SECONDS:g})")
    return float(value)


def dns_name(text: str) -> str:
    name = text.strip().removesuffix(".")
    if not name or len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{text!r} is not a DNS name (dot-separated labels of letters, digits, '-' and '_')")
    return name


def dns_names(text: str) -> tuple[str, ...]:
    names: list[str] = []
    for raw in text.split(","):
        if raw.strip() and (name := dns_name(raw)).lower() not in (n.lower() for n in names):
            names.append(name)
    return tuple(names)


def dns_servers(text: str) -> tuple[tuple[str, int], ...]:
    """``ip[:port]``, comma-separated; IPv6 as ``[addr]:port`` (or bare, on port 53)."""
    servers: list[tuple[str, int]] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        bracketed = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", entry)
        if bracketed:
            host, number = bracketed[1], bracketed[2]
        elif entry.count(":") == 1:
            host, number = entry.split(":")
        else:
            host, number = entry, None
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not ip[:port] (an IP address, optional port; IPv6 as [addr]:port)"
            ) from None
        servers.append((str(ip), 53 if number is None else port(number)))
    return tuple(servers)


def ip_addresses(text: str) -> tuple[str, ...]:
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


def address(text: str) -> str:
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if not value or any(ch.isspace() for ch in value) or not value.isprintable():
        raise ValueError(f"{text!r} is not a host name or IP address")
    return value


_PROXY_FORMS = (
    "give host:port such as proxy.contoso.com:8080, the form `netsh winhttp set proxy "
    "proxy-server=...` takes (a bare host means port 80), or none for direct access"
)


def proxy(text: str) -> str | None:
    """``winhttp_proxy``: ``none`` (direct access) or one proxy for every scheme as ``netsh winhttp
    set proxy`` takes it, ``host[:port]`` (a DNS name, an IPv4 address or ``[IPv6]``); the value is
    compared with the proxy the server's WinHTTP uses and written into ``netsh`` remediations.

    A URL (``http://proxy:8080``, the http_proxy environment variable's form; an http one is told
    the ``host:port`` to write) or a per-scheme list (``http=proxy:8080;https=proxy:8080``) is
    refused at its line: compared with a server's ``host:port`` it failed every server, and written
    into ``proxy-server="http=<proxy>"`` it made another command than meant. WinHTTP's own proxy
    list may spell an entry with ``<scheme>=`` and ``<scheme>://``
    (https://learn.microsoft.com/windows/win32/api/winhttp/ns-winhttp-winhttp_proxy_info); the
    declaration keeps the one spelling netsh's examples use, so that comparison and remediation are
    exact (https://learn.microsoft.com/windows/win32/winhttp/netsh-exe-commands)."""
    value = text.strip()
    if value.lower() == "none":
        return None
    if "://" in value:
        scheme, _, rest = value.partition("://")
        hint = ""
        if scheme.lower() == "http" and _host_port(rest.removesuffix("/")):
            hint = f" (write {rest.removesuffix('/')})"
        raise ValueError(f"a URL is not a WinHTTP proxy{hint}: {_PROXY_FORMS}")  # not echoed: user:password@
    if not _host_port(value):
        raise ValueError(f"{text!r} is not a WinHTTP proxy: {_PROXY_FORMS}")
    return value


def _host_port(value: str) -> bool:
    """``host[:port]``: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port number."""
    host, colon, number = value.rpartition(":") if not value.endswith("]") else ("", "", "")
    if not colon:
        host, number = value, ""
    try:
        if host.startswith("[") and host.endswith("]"):
            # no %scope: it would carry any character (quotes, $) into the netsh remediation
            if "%" in host or not isinstance(ipaddress.ip_address(host[1:-1]), ipaddress.IPv6Address):
                return False
        elif ":" in host or not (_is_ipv4(host) or dns_name(host)):
            return False
        if colon:
            port(number)
    except ValueError:
        return False
    return True


def _is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def peer_group(text: str) -> str:
    value = text.strip()
    if not value or len(value) > 64 or not value.isprintable() or "|" in value:
        raise ValueError(f"{text!r} is not a peer group name (1-64 printable characters, no '|')")
    return value


def env_prefix(text: str) -> str:
    if not _ENV_PREFIX.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not an environment variable prefix (letters, digits, '_')")
    return text.strip()


def registry_key(text: str) -> str:
    if not _REGISTRY_KEY.fullmatch(text.strip()):
        raise ValueError(
            f"{text!r} is not a registry path such as {DEFAULT_POLLING_REGISTRY_KEY} "
            "(on a host line, backslashes need single quotes)"
        )
    return text.strip()


@functools.lru_cache(maxsize=64)
def is_ca_bundle(path: str, _stamp: tuple[int, int]) -> bool:
    """Whether *path* loads as the channels load it: a PEM file of CA certificates (read once per
    file and version, not once per host)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError):
        return False
    return True

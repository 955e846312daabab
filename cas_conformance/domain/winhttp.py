"""The machine WinHTTP proxy, read two ways: the ``WinHttpSettings`` registry value (binary, not
localised, authoritative) and the text of ``netsh winhttp show proxy`` (localised, reported beside
it). The collector ships both raw; this module turns them into ``(proxy, bypass list)``.

Registry layout (the one Microsoft's HealthChecker decodes: microsoft/CSS-Exchange,
Diagnostics/HealthChecker/DataCollection/ServerInformation/Get-HttpProxySetting.ps1): bytes
0-3 a structure version, 4-7 a change counter, 8-11 flags, 12-15 the little-endian Int32 length of
the proxy string that starts at byte 16, then an Int32 length and the bypass-list string. The
flags word has WinINet's connection bits (``INTERNET_PER_CONN_FLAGS``: ``PROXY_TYPE_DIRECT`` 0x01,
``PROXY_TYPE_PROXY`` 0x02; Microsoft's INTERNET_PER_CONN_OPTION documentation,
https://learn.microsoft.com/windows/win32/api/wininet/ns-wininet-internet_per_conn_optiona): the
proxy string is in effect only when 0x02 is set, so a value whose flags say direct access (0x01)
is direct access even when it still stores an old proxy string. A proxy length of 0 means direct
access too; so does a missing value (never configured).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from cas_conformance.errors import CasConformanceError

#: What a server that was never configured holds (``netsh winhttp reset proxy`` writes a similar
#: direct-access value starting with 0x28).
DIRECT_ACCESS_HEX = "1800000000000000010000000000000000000000"
_VERSION_WITH_PROXY = 0x28
FLAG_DIRECT = 0x1  # PROXY_TYPE_DIRECT
FLAG_PROXY = 0x2  # PROXY_TYPE_PROXY: the stored proxy string is used
_FLAGS_PROXY = FLAG_DIRECT | FLAG_PROXY  # what netsh winhttp set proxy writes
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*", re.ASCII)
_BYPASS_SEPARATORS = re.compile(r"[;\s]+")
_DIRECT = re.compile(r"Direct access", re.IGNORECASE)
_PROXY_LINE = re.compile(r"^[ \t]*Proxy Server\(s\)[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.MULTILINE)
_BYPASS_LINE = re.compile(r"^[ \t]*Bypass List[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.MULTILINE)
_NO_BYPASS = "(none)"


class WinHttpSettingsError(CasConformanceError):
    """A WinHttpSettings value or netsh text that cannot be decoded."""


def split_bypass_list(text: str) -> tuple[str, ...]:
    """Bypass entries as WinHTTP reads them: separated by ``;`` and/or whitespace."""
    return tuple(entry for entry in _BYPASS_SEPARATORS.split(text) if entry)


@dataclass(frozen=True)
class WinHttpBlob:
    """What a ``WinHttpSettings`` value stores, in effect or not."""

    flags: int
    proxy: str
    bypass: str

    @property
    def uses_proxy(self) -> bool:
        return bool(self.flags & FLAG_PROXY) and self.proxy != ""

    @property
    def stale_proxy(self) -> str | None:
        """A stored proxy string the flags leave unused (direct access), else None."""
        return self.proxy if self.proxy and not self.uses_proxy else None


def read_winhttp_blob(registry_hex: str) -> WinHttpBlob:
    """The stored fields of a ``WinHttpSettings`` value; an empty string (the value does not
    exist) reads as the never-configured direct-access value."""
    if registry_hex == "":
        return WinHttpBlob(FLAG_DIRECT, "", "")
    if not _HEX.fullmatch(registry_hex):
        raise WinHttpSettingsError("WinHttpSettings is not an even number of hex digits")
    data = bytes.fromhex(registry_hex)
    proxy, offset = _read_string(data, 12, "proxy")
    (flags,) = struct.unpack_from("<I", data, 8)
    if proxy == "":
        return WinHttpBlob(flags, "", "")
    bypass, _ = _read_string(data, offset, "bypass list")
    return WinHttpBlob(flags, proxy, bypass)


def decode_winhttp_settings(registry_hex: str) -> tuple[str | None, tuple[str, ...]]:
    """``(proxy, bypass entries)`` in effect from the hex of the ``WinHttpSettings`` value;
    ``(None, ())`` for direct access: an empty string (the value does not exist), an empty proxy
    string, or flags without PROXY_TYPE_PROXY (a stale proxy string is then ignored)."""
    blob = read_winhttp_blob(registry_hex)
    if not blob.uses_proxy:
        return None, ()
    return blob.proxy, split_bypass_list(blob.bypass)


def _read_string(data: bytes, offset: int, what: str) -> tuple[str, int]:
    if len(data) < offset + 4:
        raise WinHttpSettingsError(
            f"WinHttpSettings ends at byte {len(data)}, before the {what} length at byte {offset}"
        )
    (length,) = struct.unpack_from("<i", data, offset)
    start = offset + 4
    if length < 0 or start + length > len(data):
        raise WinHttpSettingsError(
            f"WinHttpSettings {what} length {length} at byte {offset} runs past its {len(data)} bytes"
        )
    raw = data[start : start + length]
    try:
        return raw.decode("ascii"), start + length
    except UnicodeDecodeError:
        raise WinHttpSettingsError(f"WinHttpSettings {what} is not ASCII: {raw.hex()}") from None


def encode_winhttp_settings(
    proxy: str | None, bypass: tuple[str, ...] | list[str] = (), *, flags: int = _FLAGS_PROXY
) -> str:
    """The hex of the ``WinHttpSettings`` value ``netsh winhttp set proxy`` would leave (for the
    lab); ``proxy=None`` gives the never-configured direct-access value. *flags* other than the
    default write the proxy string with those flags (``FLAG_DIRECT``: a stale proxy string)."""
    if proxy is None:
        if bypass:
            raise ValueError("a direct-access WinHttpSettings value carries no bypass list")
        return DIRECT_ACCESS_HEX
    if proxy == "" or not proxy.isascii() or not proxy.isprintable():
        raise ValueError(f"a WinHTTP proxy is a non-empty printable ASCII string, not {proxy!r}")
    for entry in bypass:
        if split_bypass_list(entry) != (entry,) or not entry.isascii():
            raise ValueError(f"bypass entry {entry!r} is empty or holds a separator or non-ASCII")
    proxy_bytes = proxy.encode("ascii")
    bypass_bytes = ";".join(bypass).encode("ascii")
    blob = struct.pack("<iiI", _VERSION_WITH_PROXY, 0, flags)
    blob += struct.pack("<i", len(proxy_bytes)) + proxy_bytes
    blob += struct.pack("<i", len(bypass_bytes)) + bypass_bytes
    return blob.hex()


def parse_netsh_show_proxy(text: str) -> tuple[str | None, tuple[str, ...]]:
    """``(proxy, bypass entries)`` from English ``netsh winhttp show proxy`` output.

    ``(None, ())`` for "Direct access (no proxy server)."; a ``(none)`` bypass list is ``()``.
    Localised output (no English marker line) raises WinHttpSettingsError: the registry value is
    the authoritative source, this text is only reported beside it.
    """
    if _DIRECT.search(text):
        return None, ()
    proxy_line = _PROXY_LINE.search(text)
    if proxy_line is None or proxy_line.group(1) == "":
        raise WinHttpSettingsError(
            "netsh winhttp show proxy output has neither 'Direct access' nor a 'Proxy Server(s)' value "
            "(localised Windows?)"
        )
    bypass_line = _BYPASS_LINE.search(text)
    if bypass_line is None or bypass_line.group(1).lower() == _NO_BYPASS:
        return proxy_line.group(1), ()
    return proxy_line.group(1), split_bypass_list(bypass_line.group(1))

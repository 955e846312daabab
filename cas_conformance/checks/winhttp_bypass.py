"""Which host names a WinHTTP proxy bypass list sends direct, under WinHTTP's own rules (pure).

The rules (Microsoft's WINHTTP_PROXY_INFO documentation,
https://learn.microsoft.com/windows/win32/api/winhttp/ns-winhttp-winhttp_proxy_info; netsh winhttp,
https://learn.microsoft.com/windows/win32/winhttp/netsh-exe-commands; and proxycfg.exe,
https://learn.microsoft.com/windows/win32/winhttp/proxycfg-exe--a-proxy-configuration-tool):

- entries are separated by ``;`` or whitespace;
- matching is case-insensitive;
- ``*`` matches any run of characters, dots included (``*.contoso.com`` covers
  ``ex01.corp.contoso.com``, but not ``contoso.com`` itself: the dot must be there);
- any other entry is literal, so an exact FQDN covers exactly itself;
- ``<local>`` covers names without a dot (single-label names) only, never an FQDN.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

LOCAL = "<local>"
_SEPARATORS = re.compile(r"[;\s]+")


def bypass_entries(text: str) -> tuple[str, ...]:
    """The entries of a bypass list as WinHTTP splits it (``;`` and/or whitespace)."""
    return tuple(entry for entry in _SEPARATORS.split(text) if entry)


@lru_cache(maxsize=256)
def _pattern(entry: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in entry.split("*")), re.IGNORECASE | re.DOTALL)


def _normal(name: str) -> str:
    return name.strip().rstrip(".")


def entry_covers(entry: str, name: str) -> bool:
    """Does one bypass entry send *name* direct?"""
    host = _normal(name)
    if not host:
        return False
    if entry.lower() == LOCAL:
        return "." not in host
    return _pattern(entry).fullmatch(host) is not None


def covering_entry(entries: Iterable[str], name: str) -> str | None:
    """The first entry of a bypass list that covers *name*, or None."""
    for entry in entries:
        if entry_covers(entry, name):
            return entry
    return None


def uncovered(entries: Sequence[str], names: Iterable[str]) -> list[str]:
    """The names no entry covers, in the order given, each once."""
    return list(_uncovered(tuple(entries), tuple(names)))


@lru_cache(maxsize=64)
def _uncovered(entries: tuple[str, ...], names: tuple[str, ...]) -> tuple[str, ...]:
    # Every server of an organisation is asked about every server's name, most with the same
    # list: one answer per distinct list keeps that linear in the organisation's size.
    return tuple(dict.fromkeys(name for name in names if covering_entry(entries, name) is None))

"""A host entry as Ansible writes it: ``name``, ``name:port``, ``[v6]:port``, and ranges expanded.

Ranges are Ansible's: ``[01:04]`` (zero-padded when the start is), ``[a:c]`` (letters),
``[1:10:2]`` (a step), several in one name (``r[1:2]-n[a:b]``), each expanded in order.
A name that is not a valid host (``a:b``, ``web*``, a stray ``=``) is a clear error here, where
Ansible would keep the text as a host name: no Exchange server is called that.
"""

from __future__ import annotations

import re
import string

from cas_conformance.domain.records.dns import is_ip_literal
from cas_conformance.errors import InventoryError

_BRACKETED_HOST = re.compile(r"\[([^\]]+)\](?::([^:]*))?")
_RANGE = re.compile(r"\[([^\]]*)\]")
_MAX_HOSTS = 100_000


def bracketed_ip(word: str) -> re.Match[str] | None:
    """``[addr]`` or ``[addr]:port`` with an IP address inside: a host, not an INI section header."""
    match = _BRACKETED_HOST.fullmatch(word)
    return match if match is not None and is_ip_literal(match[1]) else None


def has_range(name: str) -> bool:
    """Ansible's test: a ``[`` before a ``:`` before a ``]``."""
    return 0 <= name.find("[") < name.find(":") < name.find("]")


def _split_port(token: str) -> tuple[str, str | None]:
    """The host part and the text after the last ':' outside brackets (None without one)."""
    depth = 0
    colon = -1
    for index, char in enumerate(token):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(depth - 1, 0)
        elif char == ":" and depth == 0:
            if colon >= 0:
                return token, None  # two colons outside brackets: an IPv6 address, or invalid
            colon = index
    return (token, None) if colon < 0 else (token[:colon], token[colon + 1 :])


def parse_host_entry(token: str, path: str, line: int | None) -> tuple[list[str], int | None]:
    """The host names *token* stands for (ranges expanded) and its ``:port``, if any."""

    def fail(message: str) -> InventoryError:
        return InventoryError(path, line, message)

    if not token:
        raise fail("empty host name")
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise fail("host name contains spaces or control characters")
    bracketed = bracketed_ip(token)
    port: str | None
    if bracketed:
        name, port = bracketed[1], bracketed[2]
    elif is_ip_literal(token):
        name, port = token, None
    else:
        name, port = _split_port(token)
        if ":" in name and not has_range(name):
            raise fail(f"invalid host name {token!r}: use name, name:port or [ipv6]:port")
    if "=" in name:
        raise fail("expected a host name before the key=value variables")
    if any(ch in _RANGE.sub("", name) for ch in "[]*?!&,"):
        raise fail(f"host patterns are not host names ({token!r}): list each host or use a range [a:b]")
    if token.endswith(":") and not port:
        raise fail(f"invalid host {token!r}: a trailing ':' must be followed by a port")
    if not name:
        raise fail("empty host name")
    if port is not None and not (
        port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536
    ):
        raise fail(f"invalid port in host {token!r}: expected 1-65535")
    names = expand_ranges(name, path, line) if has_range(name) else [name]
    return names, None if port is None else int(port)


def expand_ranges(name: str, path: str, line: int | None) -> list[str]:
    """Every name a ranged *name* stands for, in Ansible's order."""

    def fail(message: str) -> InventoryError:
        return InventoryError(path, line, f"invalid host range in {name!r}: {message}")

    head, _, rest = name.partition("[")
    inside, closed, tail = rest.partition("]")
    if not closed:
        raise fail("'[' is not closed")
    bounds = inside.split(":")
    if len(bounds) not in (2, 3):
        raise fail("expected [start:end] or [start:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise fail("the range has no end")
    if not (step_text.isascii() and step_text.isdigit() and int(step_text) > 0):
        raise fail("the step must be a positive whole number")
    step = int(step_text)
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise fail("the start comes after the end")
        items = list(letters[first : last + 1 : step])
    elif begin.isascii() and begin.isdigit() and end.isascii() and end.isdigit():
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise fail("a zero-padded start and the end must have the same width")
        if int(begin) > int(end):
            raise fail("the start comes after the end")
        if (int(end) - int(begin)) // step + 1 > _MAX_HOSTS:
            raise fail(f"more than {_MAX_HOSTS} hosts")
        items = [str(n).zfill(width) for n in range(int(begin), int(end) + 1, step)]
    else:
        raise fail("the bounds must be two numbers or two letters")
    names: list[str] = []
    for item in items:
        expanded = f"{head}{item}{tail}"
        names.extend(expand_ranges(expanded, path, line) if has_range(expanded) else [expanded])
    return names

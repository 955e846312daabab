"""Ansible's host patterns (``--limit``), with Ansible's semantics.

``a,b`` or ``a:b`` is a union; ``&g`` keeps only hosts also in g, ``!g`` removes g's hosts (plain
terms first, then every ``&``, then every ``!``, whatever the order written; only ``&``/``!`` terms
start from ``all``). A term is a group (all its hosts, children's included) or a host, by name;
``*``, ``?`` and ``[...]`` are shell wildcards, ``~`` starts a regular expression (matched at the
start of the name), both tried on groups and on hosts. ``g[0]``, ``g[-1]``, ``g[0:2]`` (inclusive)
and ``g[1:]`` take hosts by position; ``@file`` reads one pattern a line.
"""

from __future__ import annotations

import fnmatch
import os
import re

from cas_conformance.domain.records.dns import is_ip_literal
from cas_conformance.errors import InventoryError
from cas_conformance.inventory.host_entries import bracketed_ip
from cas_conformance.inventory.model import ALL, Host, Inventory

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_HOST_PORT = re.compile(r"^(?:[^:\[\]]|\[[^\]]*\])*:[0-9]+$")


def split_pattern(pattern: str) -> list[str]:
    """Ansible's split_host_pattern: commas, else colons outside brackets (not in an address)."""
    if "," in pattern:
        terms = pattern.split(",")
    elif is_ip_literal(pattern.strip()) or bracketed_ip(pattern.strip()) or _HOST_PORT.match(pattern.strip()):
        terms = [pattern]
    else:
        terms = _COLON_TERMS.findall(pattern)
    return [term.strip() for term in terms if term.strip()]


def _order(terms: list[str]) -> list[str]:
    plain = [t for t in terms if t[0] not in "&!"]
    both = [t for t in terms if t[0] == "&"]
    without = [t for t in terms if t[0] == "!"]
    return (plain or [ALL]) + both + without


def _matcher(term: str, source: str) -> re.Pattern[str]:
    try:
        return re.compile(term[1:] if term.startswith("~") else fnmatch.translate(term))
    except re.error as exc:
        raise InventoryError(source, None, f"invalid host pattern {term!r}: {exc}") from None


def _group_hosts(inventory: Inventory, group: str) -> list[str]:
    """The group's hosts, then its children's, breadth first (Ansible's get_hosts order)."""
    order = [group]
    seen = {group}
    index = 0
    while index < len(order):
        for child in inventory.groups[order[index]].children:
            if child not in seen:
                seen.add(child)
                order.append(child)
        index += 1
    hosts: list[str] = []
    for name in order:
        members = inventory.hosts if name == ALL else inventory.groups[name].hosts
        hosts.extend(h for h in members if h not in hosts)
    return hosts


def _one(inventory: Inventory, term: str, source: str) -> list[str]:
    if term in inventory.hosts:
        return [term]
    subscript: tuple[int, int | None] | None = None
    match = None if term.startswith("~") else _SUBSCRIPT.match(term)
    if match:
        term = match[1]
        if match[2] is not None:
            subscript = (int(match[2]), None)
        else:
            subscript = (int(match[3]), int(match[5]) if match[5] else -1)
    matcher = _matcher(term, source)
    found: list[str] = []
    groups = [g for g in inventory.groups if matcher.match(g)]
    for group in groups:
        found.extend(h for h in _group_hosts(inventory, group) if h not in found)
    if not groups or term.startswith("~") or any(c in term for c in ".?*["):
        found.extend(h for h in inventory.hosts if matcher.match(h) and h not in found)
    if subscript is None or not found:
        return found
    start, end = subscript
    try:
        if end is None:
            return [found[start]]
    except IndexError:
        return []
    return found[start : (len(found) - 1 if end == -1 else end) + 1]


def select(inventory: Inventory, pattern: str, source: str = "--limit") -> list[Host]:
    """The hosts *pattern* names, in inventory order."""
    terms: list[str] = []
    for term in split_pattern(pattern):
        if term.startswith("@"):
            terms.extend(_pattern_file(term[1:]))
        else:
            terms.append(term)
    chosen: list[str] = []
    for term in _order(terms):
        if term[0] == "!":
            drop = set(_one(inventory, term[1:], source))
            chosen = [h for h in chosen if h not in drop]
        elif term[0] == "&":
            keep = set(_one(inventory, term[1:], source))
            chosen = [h for h in chosen if h in keep]
        else:
            chosen.extend(h for h in _one(inventory, term, source) if h not in chosen)
    picked = set(chosen)
    return [host for name, host in inventory.hosts.items() if name in picked]


def _pattern_file(path: str) -> list[str]:
    if not os.path.isfile(path):
        raise InventoryError(path, None, "--limit @file: no such file")
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.strip() for line in handle.read().split("\n") if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(path, None, f"--limit @file: cannot read it: {exc}") from None

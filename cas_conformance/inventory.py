"""Ansible-style INI inventory -> hosts, groups and their effective variables, each traced to a line.

The suite reads the inventory an Exchange team already keeps for Ansible, so the semantics are
Ansible's: ``[group]`` (or ``[group:hosts]``) lists hosts, ``[group:vars]`` sets variables,
``[group:children]`` nests groups, hosts before any section are ``ungrouped`` and every host is in
``all``. Variables merge as Ansible merges them (``all`` < groups by depth, then name < host
line), and every effective value remembers the line that set it, so a bad value is reported as
``file:line``.

Deliberate differences from Ansible: values are always strings (no Python literal evaluation);
host ranges (``web[01:03]``) and patterns are refused rather than expanded; on a host line only a
``#`` at the start of a word starts a comment (Ansible also cuts ``a=b#c``); a ``[group:vars]``
value may be quoted and may end with `` # comment``. Backslashes on host lines are shell escapes
(as in Ansible): quote Windows paths there with single quotes, or set them in a vars section.
Error messages never repeat the text of a value, which may be a password.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cas_conformance.errors import InventoryError

ALL = "all"
UNGROUPED = "ungrouped"
SECTION_KINDS = ("hosts", "vars", "children")

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_HEADER = re.compile(r"\[([^\]]*)\]\s*(?:[#;].*)?")
_GROUP_NAME = re.compile(r"[\w.-]+")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHILD_LINE = re.compile(r"(\S+)\s*(?:[#;].*)?")
_BRACKETED_HOST = re.compile(r"\[([^\]]+)\](?::([^:]*))?")
_RANGE = re.compile(r"\[[^\]]*:[^\]]*\]")
_SECRET_KEY = re.compile(r"pass|secret|token", re.IGNORECASE)


class VarMapping(Mapping[str, str]):
    """A read-only str -> str mapping whose repr masks values of password-like variables.

    Host, group and settings objects carry their variables in one of these, so printing any of
    them (a failing assert, a debug log) cannot reveal ``ansible_password``.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data: dict[str, str] = dict(data or {})

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        masked = "'***'"
        shown = ", ".join(
            f"{key!r}: {masked if _SECRET_KEY.search(key) else repr(value)}"
            for key, value in self._data.items()
        )
        return "{" + shown + "}"


@dataclass(frozen=True)
class Host:
    """One host: its effective variables (after precedence) and, per variable, the line that won."""

    name: str
    vars: Mapping[str, str]
    var_lines: Mapping[str, int]
    groups: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Group:
    """One group as written: direct hosts and children, its own variables; ``line`` of its first header.

    ``depth`` is Ansible's (longest path from ``all``): it orders group variables in the merge.
    """

    name: str
    hosts: tuple[str, ...]
    children: tuple[str, ...]
    vars: Mapping[str, str]
    line: int | None
    var_lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    depth: int = 0


@dataclass(frozen=True)
class Inventory:
    """The parsed file: hosts in file order, every group (``all`` and ``ungrouped`` always present)."""

    path: str
    hosts: Mapping[str, Host]
    groups: Mapping[str, Group]
    all_vars: Mapping[str, str]
    all_var_lines: Mapping[str, int]

    def hosts_in(self, group: str) -> tuple[Host, ...]:
        """Hosts of *group* and of every group below it, in file order; () for an unknown group."""
        if group not in self.groups:
            return ()
        seen = {group}
        pending = [group]
        names: set[str] = set()
        while pending:
            current = self.groups[pending.pop()]
            names.update(current.hosts)
            for child in current.children:
                if child not in seen:
                    seen.add(child)
                    pending.append(child)
        return tuple(host for name, host in self.hosts.items() if name in names)

    def error(self, host_or_none: Host | None, var: str, message: str) -> InventoryError:
        """An error pointing at the line that set *var*'s effective value (for a host, or all:vars)."""
        if host_or_none is None:
            return InventoryError(self.path, self.all_var_lines.get(var), message)
        return InventoryError(self.path, host_or_none.var_lines.get(var, host_or_none.line), message)


@dataclass
class _GroupDraft:
    line: int | None = None
    declared: bool = False  # has a [g] or [g:children] header, or is named as a child
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, str] = field(default_factory=dict)
    var_lines: dict[str, int] = field(default_factory=dict)


@dataclass
class _HostDraft:
    line: int
    vars: dict[str, str] = field(default_factory=dict)
    var_lines: dict[str, int] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)


class _Parser:
    """One pass over the lines; the graph work (ungrouped, depth, merging) happens in finish()."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.groups: dict[str, _GroupDraft] = {ALL: _GroupDraft(declared=True)}
        self.groups[UNGROUPED] = _GroupDraft(declared=True)
        self.hosts: dict[str, _HostDraft] = {}
        self.vars_headers: list[tuple[str, int]] = []
        self.group = UNGROUPED
        self.kind = "hosts"

    def fail(self, line: int, message: str) -> InventoryError:
        return InventoryError(self.path, line, message)

    def feed(self, number: int, raw: str) -> None:
        line = raw.strip()
        if not line or line[0] in "#;":
            return
        if line.startswith("[") and not _bracketed_ip(line.split()[0]):
            self.header(number, line)
        elif self.kind == "vars":
            self.vars_line(number, line)
        elif self.kind == "children":
            self.child_line(number, line)
        else:
            self.host_line(number, line)

    def header(self, number: int, line: str) -> None:
        match = _HEADER.fullmatch(line)
        if match is None:
            if "]" not in line:
                raise self.fail(number, "section header is not closed: expected ']'")
            raise self.fail(number, "unexpected text after the section header (only a # comment may follow)")
        name, colon, suffix = match[1].partition(":")
        kind = suffix if colon else "hosts"
        if not name:
            raise self.fail(number, "empty group name in section header")
        _check_group_name(name, number, self.path)
        if kind not in SECTION_KINDS:
            raise self.fail(
                number,
                f"unknown section suffix ':{suffix}' in [{name}:{suffix}]: expected :vars or :children",
            )
        group = self.groups.setdefault(name, _GroupDraft())
        if group.line is None:
            group.line = number
        if kind == "vars":
            self.vars_headers.append((name, number))
        else:
            group.declared = True
        self.group, self.kind = name, kind

    def vars_line(self, number: int, line: str) -> None:
        key, equals, rest = line.partition("=")
        key = key.strip()
        if not equals:
            raise self.fail(number, f"expected 'name = value' in section [{self.group}:vars]")
        _check_var_name(key, number, self.path)
        group = self.groups[self.group]
        group.vars[key] = _vars_value(rest, number, self.path)
        group.var_lines[key] = number

    def child_line(self, number: int, line: str) -> None:
        match = _CHILD_LINE.fullmatch(line)
        if match is None:
            raise self.fail(number, f"expected one group name per line in [{self.group}:children]")
        child = match[1]
        _check_group_name(child, number, self.path)
        # 'all' is above every group, so naming it as a child always closes a cycle.
        cycle = [ALL, self.group] if child == ALL else self.path_between(child, self.group)
        if cycle:
            chain = " -> ".join([self.group, *cycle])
            raise self.fail(number, f"[{self.group}:children] creates a cycle: {chain}")
        draft = self.groups.setdefault(child, _GroupDraft())
        draft.declared = True
        if child not in self.groups[self.group].children:
            self.groups[self.group].children.append(child)
            draft.parents.append(self.group)

    def path_between(self, start: str, goal: str) -> list[str]:
        """The child chain from *start* down to *goal*, or [] when *goal* is not below *start*."""
        trail: dict[str, str | None] = {start: None}
        pending = [start]
        while pending:
            current = pending.pop()
            if current == goal:
                chain: list[str] = []
                node: str | None = current
                while node is not None:
                    chain.append(node)
                    node = trail[node]
                return chain[::-1]
            for child in self.groups[current].children if current in self.groups else ():
                if child not in trail:
                    trail[child] = current
                    pending.append(child)
        return []

    def host_line(self, number: int, line: str) -> None:
        try:
            tokens = shlex.split(_strip_host_comment(line), posix=True)
        except ValueError as exc:
            reason = "unbalanced quote" if "quotation" in str(exc) else "a trailing backslash escapes nothing"
            raise self.fail(number, f"cannot split the host line: {reason}") from None
        if not tokens:
            return
        name, port = _host_name(tokens[0], number, self.path)
        inline: dict[str, str] = {}
        for position, token in enumerate(tokens[1:], start=2):
            key, equals, value = token.partition("=")
            if not equals:
                raise self.fail(
                    number, f"expected key=value after the host name (word {position} has no '=')"
                )
            _check_var_name(key, number, self.path, word=position)
            if key in inline:
                raise self.fail(number, f"variable {key!r} is set twice on this line")
            inline[key] = value
        if port is not None:
            inline.setdefault("ansible_port", port)
        host = self.hosts.setdefault(name, _HostDraft(line=number))
        host.vars.update(inline)
        host.var_lines.update(dict.fromkeys(inline, number))
        if self.group not in host.groups:
            host.groups.append(self.group)
            self.groups[self.group].hosts.append(name)

    def finish(self) -> Inventory:
        for name, number in self.vars_headers:
            if not self.groups[name].declared:
                raise self.fail(
                    number,
                    f"[{name}:vars] names a group that is never defined (no [{name}] or [{name}:children])",
                )
        self.settle_ungrouped()
        depth = self.depths()
        ancestors = self.ancestors(depth)
        order = sorted((g for g in self.groups if g != ALL), key=lambda g: (depth[g], g))
        hosts: dict[str, Host] = {}
        for name, draft in self.hosts.items():
            member = {ALL}
            for group in draft.groups:
                member |= {group, *ancestors[group]}
            values = dict(self.groups[ALL].vars)
            lines = dict(self.groups[ALL].var_lines)
            for group in (g for g in order if g in member):
                values.update(self.groups[group].vars)
                lines.update(self.groups[group].var_lines)
            values.update(draft.vars)
            lines.update(draft.var_lines)
            hosts[name] = Host(
                name, VarMapping(values), MappingProxyType(lines), tuple(sorted(member)), draft.line
            )
        groups = {
            name: Group(
                name=name,
                hosts=tuple(draft.hosts),
                children=tuple(draft.children),
                vars=VarMapping(draft.vars),
                line=draft.line,
                var_lines=MappingProxyType(dict(draft.var_lines)),
                depth=depth[name],
            )
            for name, draft in self.groups.items()
        }
        everyone = self.groups[ALL]
        return Inventory(
            path=self.path,
            hosts=MappingProxyType(hosts),
            groups=MappingProxyType(groups),
            all_vars=VarMapping(everyone.vars),
            all_var_lines=MappingProxyType(dict(everyone.var_lines)),
        )

    def settle_ungrouped(self) -> None:
        """As Ansible: ``all`` holds every host, ``ungrouped`` exactly those in no other group."""
        for host in self.hosts.values():
            host.groups = [g for g in host.groups if g not in (ALL, UNGROUPED)] or [UNGROUPED]
        everyone = self.groups[ALL]
        everyone.hosts = list(self.hosts)
        self.groups[UNGROUPED].hosts = [n for n, h in self.hosts.items() if h.groups == [UNGROUPED]]
        tops = [g for g, d in self.groups.items() if g != ALL and not d.parents]
        everyone.children = [*everyone.children, *(g for g in tops if g not in everyone.children)]
        for group in everyone.children:
            if ALL not in self.groups[group].parents:
                self.groups[group].parents.append(ALL)

    def depths(self) -> dict[str, int]:
        """Longest path from ``all``, as Ansible's Group.depth (parents always sort before children)."""
        depth = {ALL: 0}
        waiting = {g: len(d.parents) for g, d in self.groups.items()}
        ready = [ALL]
        while ready:
            current = ready.pop()
            for child in self.groups[current].children:
                depth[child] = max(depth.get(child, 0), depth[current] + 1)
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        return depth

    def ancestors(self, depth: Mapping[str, int]) -> dict[str, set[str]]:
        """Every group above each group; visiting by depth means parents are always done first."""
        found: dict[str, set[str]] = {}
        for group in sorted(self.groups, key=depth.__getitem__):
            found[group] = set()
            for parent in self.groups[group].parents:
                found[group] |= {parent, *found[parent]}
        return found


def _bracketed_ip(word: str) -> re.Match[str] | None:
    """``[addr]`` or ``[addr]:port`` with an IP address inside: a host line, not a section header."""
    match = _BRACKETED_HOST.fullmatch(word)
    return match if match is not None and _is_ip(match[1]) else None


def _host_name(token: str, number: int, path: str) -> tuple[str, str | None]:
    """Split ``name``, ``name:port``, ``[v6]:port`` or a bare IPv6 address; refuse ranges and patterns."""
    if not token:
        raise InventoryError(path, number, "empty host name")
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise InventoryError(path, number, "host name contains spaces or control characters")
    bracketed = _bracketed_ip(token)
    if bracketed:
        name, port = bracketed[1], bracketed[2]
    elif _RANGE.search(token):
        raise InventoryError(path, number, f"host ranges are not supported ({token!r}): list each host")
    elif any(ch in token for ch in "[]*?!&,"):
        raise InventoryError(path, number, f"host patterns are not supported ({token!r}): list each host")
    elif "=" in token:
        raise InventoryError(path, number, "expected a host name before the key=value variables")
    elif token.count(":") == 1:
        name, port = token.split(":")
    else:
        name, port = token, None
        if ":" in token and not _is_ip(token):
            raise InventoryError(
                path, number, f"invalid host name {token!r}: use name, name:port or [ipv6]:port"
            )
    if not name:
        raise InventoryError(path, number, "empty host name")
    if port is not None and not (
        port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536
    ):
        raise InventoryError(path, number, f"invalid port in host {token!r}: expected 1-65535")
    return name, None if port is None else str(int(port))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_group_name(name: str, number: int, path: str) -> None:
    if not _GROUP_NAME.fullmatch(name):
        raise InventoryError(
            path, number, f"invalid group name {name!r}: use letters, digits, '_', '-' and '.'"
        )


def _check_var_name(key: str, number: int, path: str, word: int | None = None) -> None:
    if not _VAR_NAME.fullmatch(key):
        where = f" (word {word})" if word is not None else ""
        raise InventoryError(
            path,
            number,
            f"invalid variable name{where}: use letters, digits and '_', not starting with a digit",
        )


def _strip_host_comment(line: str) -> str:
    """Cut a ``#`` that starts a word outside quotes (shlex would also cut one inside a word)."""
    quote = ""
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def _vars_value(rest: str, number: int, path: str) -> str:
    """A [group:vars] value: verbatim, or wholly quoted; a `` # comment`` may follow either."""
    text = rest.strip()
    if text[:1] in ("'", '"'):
        close = text.find(text[0], 1)
        if close < 0:
            raise InventoryError(path, number, "unbalanced quote in the value")
        tail = text[close + 1 :].strip()
        if tail and not tail.startswith("#"):
            raise InventoryError(path, number, "unexpected text after the closing quote of the value")
        return text[1:close]
    comment = re.search(r"\s#", text)
    return text[: comment.start()].rstrip() if comment else text


def parse_inventory(text: str, path: str) -> Inventory:
    """Parse INI inventory *text*; *path* names it in errors and anchors relative paths."""
    parser = _Parser(path)
    for number, raw in enumerate(_LINE_BREAK.split(text.removeprefix("\ufeff")), start=1):
        parser.feed(number, raw)
    return parser.finish()


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read and parse an inventory file (UTF-8, a BOM allowed); any failure is an InventoryError."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InventoryError(name, None, f"cannot read the inventory: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError(name, line, "the inventory is not UTF-8 text") from None
    return parse_inventory(text, name)

"""What an inventory is once read: hosts with their effective variables, groups, and where each came from.

Every reader (INI, YAML, a directory, ``ansible-inventory`` for anything else) ends in these
objects. ``Host.vars`` holds each effective value as text (what the settings parse); ``Host.values``
the same values as Ansible types them (what ``inventory --list`` prints); ``Host.secrets`` the
Vault-encrypted values, decrypted, as :class:`Secret` (a password-like one is never in ``vars``).
Each variable remembers the file and line that set its effective value, so a bad value is
reported as ``file:line``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cas_conformance.domain.secret import Secret
from cas_conformance.errors import InventoryError

ALL = "all"
UNGROUPED = "ungrouped"
SECRET_KEY = re.compile(r"pass|secret|token", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """A variable whose value is never shown: ``ansible_password``, ``*_secret``, ``*token*``."""
    return SECRET_KEY.search(name) is not None


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
            f"{key!r}: {masked if is_secret_name(key) else repr(value)}" for key, value in self._data.items()
        )
        return "{" + shown + "}"


@dataclass(frozen=True)
class Host:
    """One host: its effective variables (after precedence) and, per variable, the line that won.

    ``var_files`` names the file of each variable whose line is not in the inventory file itself
    (``group_vars/``, ``host_vars/``, another file of an inventory directory).
    """

    name: str
    vars: Mapping[str, str]
    var_lines: Mapping[str, int]
    groups: tuple[str, ...]
    line: int
    var_files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    values: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    secrets: Mapping[str, Secret] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    file: str | None = None


@dataclass(frozen=True)
class Group:
    """One group as written: direct hosts and children, its own variables; ``line`` of its first header.

    ``depth`` is Ansible's (longest path from ``all``) and ``priority`` its ``ansible_group_priority``:
    with the name they order group variables in the merge.
    """

    name: str
    hosts: tuple[str, ...]
    children: tuple[str, ...]
    vars: Mapping[str, str]
    line: int | None
    var_lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    depth: int = 0
    priority: int = 1


@dataclass(frozen=True)
class Inventory:
    """The parsed inventory: hosts in Ansible's order, every group (``all`` and ``ungrouped`` always
    present); ``path`` is what was given (a file or a directory)."""

    path: str
    hosts: Mapping[str, Host]
    groups: Mapping[str, Group]
    all_vars: Mapping[str, str]
    all_var_lines: Mapping[str, int]
    all_var_files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    locked: tuple[tuple[str, str, int | None], ...] = ()  # Vault values left encrypted: (var, file, line)

    @property
    def base_dir(self) -> str:
        """Where relative paths in variables start: the inventory's folder (itself, for a directory)."""
        absolute = os.path.abspath(self.path)
        return absolute if os.path.isdir(absolute) else os.path.dirname(absolute)

    def hosts_in(self, group: str) -> tuple[Host, ...]:
        """Hosts of *group* and of every group below it, in inventory order; () for an unknown group."""
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

    def source_of(self, host_or_none: Host | None, var: str) -> tuple[str, int | None]:
        """The file and line that set *var*'s effective value (for a host, or for all:vars)."""
        if host_or_none is None:
            return self.all_var_files.get(var, self.path), self.all_var_lines.get(var)
        host = host_or_none
        default = host.file or self.path
        if var in host.var_lines:
            return host.var_files.get(var, default), host.var_lines[var]
        return default, host.line

    def error(self, host_or_none: Host | None, var: str, message: str) -> InventoryError:
        """An error pointing at the line that set *var*'s effective value (for a host, or all:vars)."""
        path, line = self.source_of(host_or_none, var)
        return InventoryError(path, line, message)

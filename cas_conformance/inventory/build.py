"""Hosts, groups and variables gathered from any source, merged as Ansible merges them.

Readers (INI, YAML, ``ansible-inventory`` output) add groups, hosts, children and variables here,
each value with its :class:`Origin`. :meth:`Builder.finish` settles ``all`` and ``ungrouped``,
the depth and priority of every group, reads ``group_vars/`` and ``host_vars/`` and merges in
Ansible's order (its ``VariableManager`` with the default ``VARIABLE_PRECEDENCE``)::

    all (inventory) < group_vars/all < each group (inventory) < group_vars/<group>
        < the host (inventory) < host_vars/<host>

groups sorted by depth, then ``ansible_group_priority``, then name; a later value replaces an
earlier one whole (``hash_behaviour = replace``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cas_conformance.domain.secret import Secret
from cas_conformance.errors import InventoryError
from cas_conformance.inventory.model import ALL, UNGROUPED, Group, Host, Inventory, VarMapping, is_secret_name
from cas_conformance.inventory.values import Origin, VaultValue, as_text

Layer = dict[str, tuple[object, Origin]]
VarsReader = Callable[[str, str], Layer]  # (kind "group_vars"/"host_vars", entity name) -> values
Decrypt = Callable[[VaultValue, Origin, str], str]  # raises InventoryError on a wrong password


@dataclass
class GroupDraft:
    origin: Origin | None = None
    declared: bool = True
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: Layer = field(default_factory=dict)
    priority: int = 1


@dataclass
class HostDraft:
    origin: Origin
    vars: Layer = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)


class Builder:
    """Ansible's InventoryData, for one inventory (a file, or every file of a directory)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.groups: dict[str, GroupDraft] = {ALL: GroupDraft(), UNGROUPED: GroupDraft()}
        self.hosts: dict[str, HostDraft] = {}
        self.add_child(ALL, UNGROUPED, Origin(path, None))

    def add_group(self, name: str, origin: Origin, *, declared: bool = True) -> GroupDraft:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = GroupDraft(origin=origin, declared=declared)
        elif declared and not group.declared:
            group.declared = True
            group.origin = origin
        return group

    def add_host(self, name: str, group: str, origin: Origin, values: Layer, port: int | None = None) -> None:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = HostDraft(origin)
        if port is not None:
            host.vars["ansible_port"] = (port, origin)
        host.vars.update(values)
        draft = self.add_group(group, origin, declared=False)
        if name not in draft.hosts:
            draft.hosts.append(name)
            host.groups.append(group)

    def set_group_var(self, group: str, key: str, value: object, origin: Origin) -> None:
        draft = self.groups[group]
        if key == "ansible_group_priority":
            try:
                draft.priority = int(as_text(value))
            except ValueError:
                raise InventoryError(
                    origin.file, origin.line, "ansible_group_priority must be a whole number"
                ) from None
            return
        draft.vars[key] = (value, origin)

    def add_child(self, parent: str, child: str, origin: Origin) -> None:
        # 'all' is above every group, so naming it as a child always closes a cycle.
        cycle = [ALL, parent] if child == ALL else self.path_between(child, parent)
        if cycle:
            chain = " -> ".join([parent, *cycle])
            raise InventoryError(
                origin.file, origin.line, f"group {parent!r} and its children form a cycle: {chain}"
            )
        draft = self.add_group(child, origin, declared=False)
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
            draft.parents.append(parent)

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

    # --- settling and merging -----------------------------------------------------------------
    def settle(self) -> None:
        """As Ansible's reconcile: every parentless group under ``all``; ``ungrouped`` holds exactly
        the hosts in no other group (besides ``all``)."""
        for name in list(self.groups):
            if name != ALL and not self.groups[name].parents:
                self.add_child(ALL, name, Origin(self.path, None))
        ungrouped = self.groups[UNGROUPED]
        for name, host in self.hosts.items():
            others = [g for g in host.groups if g not in (ALL, UNGROUPED)]
            if others and UNGROUPED in host.groups:
                host.groups.remove(UNGROUPED)
                ungrouped.hosts.remove(name)
            elif not others and UNGROUPED not in host.groups:
                host.groups.append(UNGROUPED)
                ungrouped.hosts.append(name)

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
        found: dict[str, set[str]] = {}
        for group in sorted(self.groups, key=depth.__getitem__):
            found[group] = set()
            for parent in self.groups[group].parents:
                found[group] |= {parent, *found[parent]}
        return found

    def finish(self, read_vars: VarsReader, decrypt: Decrypt | None) -> Inventory:
        self.settle()
        depth = self.depths()
        ancestors = self.ancestors(depth)
        files: dict[tuple[str, str], Layer] = {}

        def from_files(kind: str, name: str) -> Layer:
            if (kind, name) not in files:
                files[kind, name] = read_vars(kind, name)
            return files[kind, name]

        order = sorted(
            (g for g in self.groups if g != ALL), key=lambda g: (depth[g], self.groups[g].priority, g)
        )
        everyone: Layer = {**self.groups[ALL].vars, **from_files("group_vars", ALL)}
        texts = _Texts(decrypt)
        hosts: dict[str, Host] = {}
        for name, draft in self.hosts.items():
            member = {ALL}
            for group in draft.groups:
                member |= {group, *ancestors[group]}
            mine = [g for g in order if g in member]
            merged: Layer = dict(everyone)
            for group in mine:
                merged.update(self.groups[group].vars)
            for group in mine:
                merged.update(from_files("group_vars", group))
            merged.update(draft.vars)
            merged.update(from_files("host_vars", name))
            hosts[name] = texts.host(name, draft.origin, tuple(sorted(member)), merged)
        all_vars, all_lines, all_files, _, _ = texts.split(everyone)
        groups = {
            name: Group(
                name=name,
                hosts=tuple(draft.hosts) if name != ALL else tuple(self.hosts),
                children=tuple(draft.children),
                vars=VarMapping(texts.split(draft.vars)[0]),
                line=draft.origin.line if draft.origin else None,
                var_lines=MappingProxyType(texts.split(draft.vars)[1]),
                depth=depth[name],
                priority=draft.priority,
            )
            for name, draft in self.groups.items()
        }
        return Inventory(
            path=self.path,
            hosts=MappingProxyType(hosts),
            groups=MappingProxyType(groups),
            all_vars=VarMapping(all_vars),
            all_var_lines=MappingProxyType(all_lines),
            all_var_files=MappingProxyType(all_files),
            locked=tuple(sorted(texts.locked)),
        )


class _Texts:
    """Turns merged values into a Host: text for the settings, Secrets for decrypted Vault values."""

    def __init__(self, decrypt: Decrypt | None) -> None:
        self.decrypt = decrypt
        self.plain: dict[int, str] = {}  # id(VaultValue) -> plaintext, so each is decrypted once
        self.locked: set[tuple[str, str, int | None]] = set()

    def split(
        self, layer: Layer
    ) -> tuple[dict[str, str], dict[str, int], dict[str, str], dict[str, object], dict[str, Secret]]:
        texts: dict[str, str] = {}
        lines: dict[str, int] = {}
        files: dict[str, str] = {}
        values: dict[str, object] = {}
        secrets: dict[str, Secret] = {}
        for key, (value, origin) in layer.items():
            values[key] = value
            files[key] = origin.file
            if origin.line is not None:
                lines[key] = origin.line
            if not isinstance(value, VaultValue):
                texts[key] = as_text(value)
                continue
            if self.decrypt is None:
                self.locked.add((key, origin.file, origin.line))
                continue
            if id(value) not in self.plain:
                self.plain[id(value)] = self.decrypt(value, origin, key)
            secrets[key] = Secret(self.plain[id(value)])
            if not is_secret_name(key):
                texts[key] = self.plain[id(value)]
        return texts, lines, files, values, secrets

    def host(self, name: str, origin: Origin, groups: tuple[str, ...], merged: Layer) -> Host:
        texts, lines, files, values, secrets = self.split(merged)
        return Host(
            name=name,
            vars=VarMapping(texts),
            var_lines=MappingProxyType(lines),
            groups=groups,
            line=origin.line or 0,
            var_files=MappingProxyType(files),
            values=MappingProxyType(values),
            secrets=MappingProxyType(secrets),
            file=origin.file,
        )

"""YAML as Ansible reads it for inventories and ``group_vars``/``host_vars`` files, with lines.

PyYAML's safe loader (YAML 1.1 types, as Ansible's loader: ``yes`` is true, ``0x10`` is 16),
plus Ansible's tags: ``!vault`` (an encrypted value, kept as :class:`VaultValue`) and ``!unsafe``
(a plain string). Every mapping remembers the line of each key, so an error points at it.
"""

from __future__ import annotations

from typing import Any

import yaml

from cas_conformance.errors import InventoryError
from cas_conformance.inventory.build import Builder, Layer
from cas_conformance.inventory.host_entries import parse_host_entry
from cas_conformance.inventory.values import Origin, VaultValue

SECTIONS = ("vars", "children", "hosts")


class LineDict(dict[Any, Any]):
    """A YAML mapping that knows the line of each of its keys (1-based)."""

    lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _vault(loader: _Loader, node: yaml.Node) -> VaultValue:
    return VaultValue(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def _unsafe(loader: _Loader, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return str(loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return _mapping(loader, node)  # type: ignore[arg-type]


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor("!vault", _vault)
_Loader.add_constructor("!unsafe", _unsafe)


def load_yaml(text: str, path: str) -> object:
    """Parse *text*; a syntax error is an InventoryError at its line."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InventoryError(path, line, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(path, None, f"YAML error: {exc}") from None


def _line(mapping: object, key: object) -> int | None:
    return mapping.lines.get(key) if isinstance(mapping, LineDict) else None


def vars_layer(data: object, path: str) -> Layer:
    """The variables of a vars file (a mapping, or empty)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InventoryError(path, 1, "a vars file must hold a mapping of variable names to values")
    return {str(key): (value, Origin(path, _line(data, key))) for key, value in data.items()}


class YamlReader:
    """Ansible's yaml inventory plugin: top-level keys are groups with ``hosts``, ``vars``, ``children``."""

    def __init__(self, builder: Builder, path: str) -> None:
        self.builder = builder
        self.path = path

    def read(self, data: dict[Any, Any]) -> None:
        for name, body in data.items():
            self.group(name, body, Origin(self.path, _line(data, name)))

    def group(self, name: object, body: object, origin: Origin) -> str:
        if not isinstance(name, str) or not name:
            raise InventoryError(self.path, origin.line, "a group name must be a non-empty string")
        if body is not None and not isinstance(body, dict):
            raise InventoryError(
                self.path, origin.line, f"group {name!r} must be a mapping with hosts, vars or children"
            )
        self.builder.add_group(name, origin)
        for key, section in (body or {}).items():
            line = _line(body, key)
            if key not in SECTIONS:
                raise InventoryError(
                    self.path,
                    line,
                    f"unexpected key {key!r} in group {name!r}: only hosts, vars and children",
                )
            if isinstance(section, str):
                section = {section: None}
            if section is None:
                continue
            if not isinstance(section, dict):
                raise InventoryError(self.path, line, f"the {key} of group {name!r} must be a mapping")
            for entry, value in section.items():
                here = Origin(self.path, _line(section, entry))
                if key == "vars":
                    self.builder.set_group_var(name, str(entry), value, here)
                elif key == "children":
                    child = self.group(entry, value, here)
                    self.builder.add_child(name, child, here)
                else:
                    self.host(name, entry, value, here)
        return name

    def host(self, group: str, entry: object, value: object, origin: Origin) -> None:
        if not isinstance(entry, str):
            raise InventoryError(
                self.path, origin.line, "a host name must be a string (quote numbers and addresses)"
            )
        if value is not None and not isinstance(value, dict):
            raise InventoryError(self.path, origin.line, f"the variables of host {entry!r} must be a mapping")
        names, port = parse_host_entry(entry, self.path, origin.line)
        values = {str(k): (v, Origin(self.path, _line(value, k))) for k, v in (value or {}).items()}
        for name in names:
            self.builder.add_host(name, group, origin, dict(values), port)


def is_yaml_inventory(data: object) -> bool:
    """A mapping that is not a plugin configuration (``plugin: ...``)."""
    return isinstance(data, dict) and bool(data) and "plugin" not in data

"""Frozen fact dataclasses to JSON-ready values and back (for the facts file).

Only the shapes :mod:`cas_conformance.domain.facts` uses: dataclasses, tuples, optional values, enums,
datetimes (ISO 8601 with offset), str, int, bool.

A field the saved object lacks (a file saved by a version that did not have it) is loaded with its
default when the field is declared with :func:`~cas_conformance.domain.facts.if_absent`; any other
missing field raises :class:`MissingField`, which the facts file turns into its one-line refusal
(docs/facts-files.md). A JSON object read from a facts file is a :class:`SavedObject`, so a loader's
plain ``data[key]`` raises the same error, naming the object that lacks the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from cas_conformance.domain.facts import loads_if_absent

T = TypeVar("T")


class MissingField(KeyError):
    """A saved object lacks a field this version cannot load without. ``node`` is the object (the
    facts file finds where it is), ``key`` the field."""

    def __init__(self, node: Mapping[str, Any], key: str) -> None:
        super().__init__(key)
        self.node = node
        self.key = key


class SavedObject(dict[str, Any]):
    """A JSON object of a saved file: reading a key it lacks raises :class:`MissingField` (a
    KeyError) that names this object, so the reader can say where the field is missing.
    ``get`` with a default is how a loader reads a field that may be absent."""

    __slots__ = ()

    def __missing__(self, key: str) -> Any:
        raise MissingField(self, key)


def saved(value: Any) -> Any:
    """*value* (JSON-ready: dicts, lists, scalars) with every dict a :class:`SavedObject`."""
    if isinstance(value, dict):
        return SavedObject((k, saved(v)) for k, v in value.items())
    if isinstance(value, list):
        return [saved(v) for v in value]
    return value


def dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [dump(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def load(cls: type[T], data: Any) -> T:
    return typing.cast(T, _load(cls, data))


def _short(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def _load(hint: Any, data: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if data is None else _load(options[0], data)
    if origin is tuple:
        (item, *_rest) = typing.get_args(hint)
        if not isinstance(data, list):
            raise TypeError(f"a list is expected, not {_short(data)}")
        return tuple(_load(item, v) for v in data)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _load_dataclass(hint, data)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if hint is datetime:
        if not isinstance(data, str):
            raise TypeError(f"an ISO 8601 date is expected, not {_short(data)}")
        return datetime.fromisoformat(data)
    if hint in (str, int, bool) and not isinstance(data, hint):
        raise TypeError(f"{hint.__name__} expected, not {_short(data)}")
    return data


def _load_dataclass(cls: Any, data: Any) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"an object is expected for {cls.__name__}, not {_short(data)}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in data:
            values[f.name] = _load(hints[f.name], data[f.name])
        elif not loads_if_absent(f):  # absent and marked: the field's default stands
            raise MissingField(data, f.name)
    return cls(**values)

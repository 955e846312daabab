"""Frozen fact dataclasses to JSON-ready values and back (for the facts file).

Only the shapes :mod:`cas_conformance.domain.facts` uses: dataclasses, tuples, optional values, enums,
datetimes (ISO 8601 with offset), str, int, bool.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


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


def _load(hint: Any, data: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if data is None else _load(options[0], data)
    if origin is tuple:
        (item, *_rest) = typing.get_args(hint)
        if not isinstance(data, list):
            raise TypeError(f"a list is expected, not {data!r}")
        return tuple(_load(item, v) for v in data)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise TypeError(f"an object is expected for {hint.__name__}, not {data!r}")
        hints = _hints(hint)
        return hint(
            **{f.name: _load(hints[f.name], data[f.name]) for f in dataclasses.fields(hint) if f.init}
        )
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if hint is datetime:
        return datetime.fromisoformat(data)
    if hint in (str, int, bool) and not isinstance(data, hint):
        raise TypeError(f"{hint.__name__} expected, not {data!r}")
    return data

"""Inventory values as Ansible types them, their text form for the settings, and Vault placeholders."""

from __future__ import annotations

import ast
import json
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """The file and line that set a value (line None when the source gives none)."""

    file: str
    line: int | None


@dataclass(frozen=True)
class VaultValue:
    """A ``!vault`` / ``$ANSIBLE_VAULT`` value, still encrypted; decrypted once the inventory is built."""

    ciphertext: str

    def __repr__(self) -> str:
        return "VaultValue(...)"


def ini_value(text: str) -> object:
    """Ansible's reading of an INI value: a Python literal when it is one, else the text itself."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # an invalid escape such as '\C' (3.12+)
            warnings.simplefilter("ignore", DeprecationWarning)  # the same on 3.10 and 3.11
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def as_text(value: object) -> str:
    """The text the settings read: strings as they are, booleans ``true``/``false``, ``None`` empty,
    numbers as Python writes them, lists and mappings as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(jsonable(value), sort_keys=True)


def jsonable(value: object) -> object:
    """*value* as JSON can hold it (tuples and sets as lists, other objects as text)."""
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, VaultValue):
        return {"__ansible_vault": value.ciphertext}
    return str(value)

"""A password that never prints: inventory Vault values and the run's WinRM password travel as one."""

from __future__ import annotations

import hmac


class Secret:
    """A password: compares by value, ``reveal()`` returns it, every other view shows ``'***'``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "'***'"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine, theirs = (v.encode("utf-8", "surrogatepass") for v in (self._value, other._value))
        return hmac.compare_digest(mine, theirs)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

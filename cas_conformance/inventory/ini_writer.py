"""Write an inventory back as INI text: the effective variables, never a password.

Used to store the exact inventory a run used (facts files) and by the lab to write an inventory
that reaches it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from cas_conformance.inventory.model import Inventory
from cas_conformance.inventory.values import ini_value

SECRET_VARS = frozenset({"ansible_password", "ansible_become_password", "ansible_winrm_password"})


def _literal_safe(value: str) -> str:
    """*value*, or its Python repr where the INI reader would otherwise read it as a literal."""
    return value if ini_value(value) == value else repr(value)


def _quote(value: str) -> str:
    value = _literal_safe(value)
    return shlex.quote(value) if value == "" or any(c in value for c in " \t\"'#;=\\") else value


def _line(name: str, variables: Mapping[str, str], omit: frozenset[str]) -> str:
    parts = [name] + [f"{k}={_quote(v)}" for k, v in variables.items() if k not in omit]
    return " ".join(parts)


def render_inventory(inventory: Inventory, *, omit: frozenset[str] = frozenset()) -> str:
    """Every host with its effective variables inline (minus all:vars), groups as membership lists.
    Passwords are always left out, and so is every variable in *omit*."""
    omit = omit | SECRET_VARS
    lines = []
    for host in inventory.hosts.values():
        own = {k: v for k, v in host.vars.items() if inventory.all_vars.get(k) != v}
        lines.append(_line(host.name, own, omit))
    lines.append("")
    lines.append("[all:vars]")
    lines += [f"{k} = {_literal_safe(v)}" for k, v in inventory.all_vars.items() if k not in omit]
    for group in inventory.groups.values():
        if group.name in ("all", "ungrouped") or not group.hosts:
            continue
        lines.append("")
        lines.append(f"[{group.name}]")
        lines.extend(group.hosts)
    return "\n".join(lines) + "\n"

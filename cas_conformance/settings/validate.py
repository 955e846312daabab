"""Everything wrong with an inventory that can be seen before any connection.

A bad value is refused where it is read (the :class:`~cas_conformance.errors.InventoryError` of
:mod:`cas_conformance.settings.read`, ``file:line`` and what is accepted: the run's plan builds every
setting before any connection). ``require_passwords`` refuses WinRM hosts left without a password;
``unknown_variables`` names variables the suite does not read, with the closest one it does (a misspelled
``winrm_timout`` would otherwise silently keep the default).

Ansible's own connection variables (``ansible_connection``, ``ansible_winrm_operation_timeout_sec``,
``ansible_become``, ...) are at home in an inventory shared with Ansible: an ``ansible_*`` name the
suite does not read is ignored without a word, unless it is one letter or two away from one it does
read (``ansible_winrm_trasport``), which is a typo worth a warning.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

from cas_conformance.errors import InventoryError
from cas_conformance.inventory import Inventory
from cas_conformance.settings.password import PASSWORD_ENV
from cas_conformance.settings.read import KNOWN_VARIABLES, HostSettings

# Variables read outside the settings: the plugin starts the embedded lab from lab_scenario.
OTHER_VARIABLES = frozenset({"lab_scenario", "failback_addresses"})
_ANSIBLE_TYPO_CUTOFF = 0.9
_TYPO_CUTOFF = 0.6


def known_variables() -> frozenset[str]:
    return KNOWN_VARIABLES | OTHER_VARIABLES


def _set_variables(inventory: Inventory) -> Iterator[tuple[str, int | None]]:
    """Every (variable, line) the file sets: all:vars, each host's effective variables."""
    for var in inventory.all_vars:
        yield var, inventory.all_var_lines.get(var)
    for host in inventory.hosts.values():
        for var in host.vars:
            yield var, host.var_lines.get(var, host.line)


def unknown_variables(inventory: Inventory) -> list[str]:
    """One ``file:line: ...`` warning per unknown variable and line that sets it, in line order."""
    known = sorted(known_variables())
    seen: set[tuple[str, int | None]] = set()
    found: list[tuple[int, str]] = []
    for var, line in _set_variables(inventory):
        if var in known or (var, line) in seen:
            continue
        seen.add((var, line))
        ansible = var.startswith("ansible_")
        close = difflib.get_close_matches(
            var, known, n=1, cutoff=_ANSIBLE_TYPO_CUTOFF if ansible else _TYPO_CUTOFF
        )
        if ansible and not close:
            continue  # one of Ansible's own variables: not ours, not a typo of ours
        hint = f"did you mean {close[0]}?" if close else "see docs/variables.md for the variables it reads"
        where = f"{inventory.path}:{line}" if line is not None else inventory.path
        found.append(
            (line or 0, f"{where}: unknown variable {var}: cas-conformance does not read it; {hint}")
        )
    return [message for _, message in sorted(found)]


def require_passwords(inventory: Inventory, hosts: Mapping[str, HostSettings]) -> None:
    """Refuse WinRM *hosts* (in inventory order) that have no password from anywhere: a usage error
    at the first one's line."""
    without = [name for name, host in hosts.items() if host.password is None]
    if without:
        first = inventory.hosts[without[0]]
        others = f" and {len(without) - 1} other host(s)" if len(without) > 1 else ""
        raise InventoryError(
            inventory.path,
            first.line,
            f"no WinRM password for {first.name}{others}: set {PASSWORD_ENV} in the environment "
            "or run with --ask-pass",
        )

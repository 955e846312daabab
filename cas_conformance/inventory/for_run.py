"""The inventory one run uses: read with its Vault password, restricted to ``--limit``.

The Vault password comes from ``--vault-password-file`` or, without it, the file named by
``ANSIBLE_VAULT_PASSWORD_FILE`` (as ansible-playbook finds it). A run that needs a Vault value it
cannot decrypt, an inventory that lists no host (a 0-byte file, a dynamic source printing ``{}``),
and a ``--limit`` that selects no host, are usage errors before any connection.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from types import MappingProxyType

from cas_conformance.errors import InventoryError
from cas_conformance.inventory.model import ALL, Group, Inventory
from cas_conformance.inventory.patterns import select
from cas_conformance.inventory.read import load_inventory
from cas_conformance.inventory.vault import PASSWORD_FILE_ENV, read_password_file


def vault_password(option: str | None, environ: Mapping[str, str]) -> bytes | None:
    path = option or environ.get(PASSWORD_FILE_ENV) or None
    if path is None:
        return None
    where = "--vault-password-file" if option else PASSWORD_FILE_ENV
    try:
        return read_password_file(os.path.expanduser(path))
    except OSError as exc:
        raise InventoryError(
            path, None, f"{where}: cannot read the Vault password: {exc.strerror or exc}"
        ) from None
    except ValueError as exc:
        raise InventoryError(path, None, f"{where}: {exc}") from None


def limited(inventory: Inventory, pattern: str) -> Inventory:
    """*inventory* with only the hosts *pattern* selects (groups keep their selected hosts)."""
    hosts = select(inventory, pattern)
    if not hosts:
        raise InventoryError("--limit", None, f"the pattern {pattern!r} matches no host of {inventory.path}")
    keep = {host.name for host in hosts}
    groups: dict[str, Group] = {
        name: dataclasses.replace(group, hosts=tuple(h for h in group.hosts if h in keep))
        for name, group in inventory.groups.items()
    }
    return dataclasses.replace(
        inventory,
        hosts=MappingProxyType({h.name: h for h in hosts}),
        groups=MappingProxyType(groups),
    )


def load_for_run(
    path: str,
    *,
    limit: str | None = None,
    vault_password_file: str | None = None,
    environ: Mapping[str, str] = os.environ,
    require_vault: bool = True,
    require_hosts: bool = False,
) -> Inventory:
    """Read *path* as a run does; *require_vault*: a Vault value left encrypted is an error;
    *require_hosts*: an inventory without a host is an error (a run would check nothing and pass)."""
    inventory = load_inventory(path, vault_password=vault_password(vault_password_file, environ))
    if require_vault and inventory.locked:
        var, file, line = inventory.locked[0]
        raise InventoryError(
            file,
            line,
            f"{var} is Vault-encrypted: give the Vault password with --vault-password-file PATH "
            f"or {PASSWORD_FILE_ENV}",
        )
    if require_hosts and not inventory.hosts:
        raise InventoryError(inventory.path, None, "the inventory lists no host: a run would check nothing")
    if limit is not None:
        inventory = limited(inventory, limit)
    assert ALL in inventory.groups
    return inventory

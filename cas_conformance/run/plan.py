"""One run's plan, made and validated before any connection; gathering reads it and parses nothing.

The plan holds the inventory's name as given and as resolved once, the run's settings (all:vars),
each WinRM host's settings with its password, which hosts are reached over WinRM and which are only
probed from outside (the ``[published]`` group), and the Kerberos configuration those hosts need.
Making it raises every usage error the inventory can hold, with ``file:line`` as the user wrote the
path: the first bad value (all:vars first, then the WinRM hosts in file order), then WinRM hosts
that have no password from anywhere.

Data flows one way: inventory -> settings -> plan -> evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from cas_conformance.channels.kerberos import Krb5Config
from cas_conformance.domain.secret import Secret
from cas_conformance.evidence.endpoints import published_members
from cas_conformance.evidence.os import krb5_config
from cas_conformance.inventory import Inventory
from cas_conformance.settings import HostSettings, RunSettings, host_settings, run_settings
from cas_conformance.settings.validate import require_passwords


@dataclass(frozen=True)
class InventorySource:
    """The inventory a run reads: ``given`` as the user wrote it (or the default), which usage
    errors cite; ``resolved`` once, absolute, the one name every output gives it (results.json, the
    HTML report's Environment, the facts file)."""

    given: str
    resolved: str

    @classmethod
    def at(cls, given: str, base: str | Path = ".") -> InventorySource:
        """*given*, relative to *base* (the directory the run was started in)."""
        return cls(given, str(Path(base, given).resolve()))


@dataclass(frozen=True)
class RunPlan:
    """What one run will gather, and how, decided before any connection."""

    source: InventorySource
    #: the inventory, named by ``source.resolved``
    inventory: Inventory
    run: RunSettings
    #: the hosts reached over WinRM, in inventory order, each with its password
    hosts: Mapping[str, HostSettings]
    #: the hosts only probed from outside (the ``[published]`` group)
    published: tuple[str, ...]
    #: what MIT Kerberos must read for the hosts that may log on with Kerberos
    krb5: tuple[Krb5Config, ...]


def winrm_hosts(inventory: Inventory) -> list[str]:
    """The inventory's hosts reached over WinRM: every host but the ``[published]`` names."""
    published = set(published_members(inventory))
    return [name for name in inventory.hosts if name not in published]


def plan_run(
    inventory: Inventory, *, password: Secret | None, source: InventorySource | None = None
) -> RunPlan:
    """The plan of a run of *inventory* (read from *source*; default: its own path, from the
    working directory) with the run's *password* (None: each host's own ``ansible_password``).

    Raises the InventoryError of the first bad value, then refuses WinRM hosts without a password.
    """
    if source is None:
        source = InventorySource.at(inventory.path)
    run = run_settings(inventory)
    winrm = winrm_hosts(inventory)
    hosts = {name: host_settings(inventory, inventory.hosts[name], password=password) for name in winrm}
    require_passwords(inventory, hosts)
    return RunPlan(
        source=source,
        inventory=replace(inventory, path=source.resolved),
        run=run,
        hosts=MappingProxyType(hosts),
        published=tuple(name for name in inventory.hosts if name not in hosts),
        # WinRM over Kerberos, or /PowerShell over Kerberos (its default) with NTLM for WinRM
        krb5=tuple(krb5_config(h.kerberos) for h in hosts.values() if h.uses_kerberos),
    )

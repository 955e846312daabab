"""The state of one conformance run inside pytest: inventory, password, embedded lab, facts."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

from cas_conformance.checks import Case
from cas_conformance.errors import CasConformanceError
from cas_conformance.facts_file import load_world, save_world
from cas_conformance.gather import GatherOptions, gather
from cas_conformance.inventory import Inventory, VarMapping, load_inventory
from cas_conformance.settings import Secret, resolve_password
from cas_conformance.world import World

state_key = pytest.StashKey["RunState"]()


class InventoryWarning(UserWarning):
    """Something in the inventory works but is discouraged (a password in it)."""


def overlay_vars(
    inventory: Inventory,
    overrides: dict[str, str],
    line: int | None,
    hosts: set[str] | None = None,
    *,
    run_level: bool = False,
) -> Inventory:
    """*inventory* with *overrides* set on every host (or only *hosts*), and in all:vars when
    *run_level*; an error about an overridden value points at *line* (the ``lab_scenario`` line)."""
    lines = {k: line or 0 for k in overrides}
    new_hosts = {}
    for name, host in inventory.hosts.items():
        if hosts is None or name in hosts:
            host = dataclasses.replace(
                host,
                vars=VarMapping({**host.vars, **overrides}),
                var_lines={**host.var_lines, **lines},
            )
        new_hosts[name] = host
    if not run_level:
        return dataclasses.replace(inventory, hosts=new_hosts)
    return dataclasses.replace(
        inventory,
        hosts=new_hosts,
        all_vars=VarMapping({**inventory.all_vars, **overrides}),
        all_var_lines={**inventory.all_var_lines, **lines},
    )


class RunState:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.inventory: Inventory | None = None
        self.password: Secret | None = None
        self.lab: Any = None
        self.environ: dict[str, str] = dict(os.environ)
        self._world: World | None = None
        self._worker_file: str | None = None
        self.cases: dict[str, dict[str, Case]] = {}

    # --- set-up, before any connection -----------------------------------------------------
    def configure(self) -> None:
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None and "cas_conformance_facts" in workerinput:
            self._world = load_world(workerinput["cas_conformance_facts"])
            return
        replay = self.config.getoption("replay_facts")
        if replay:
            self._world = load_world(replay)
            return
        path = self.config.getoption("inventory") or str(Path(self.config.rootpath, "inventory.ini"))
        inventory = load_inventory(path)
        ask = (lambda: getpass.getpass("WinRM password: ")) if self.config.getoption("ask_pass") else None
        self.password = resolve_password(
            inventory,
            environ=os.environ,
            ask=ask,
            warn=lambda message: warnings.warn(InventoryWarning(message), stacklevel=1),
        )
        scenario = inventory.all_vars.get("lab_scenario")
        if scenario:
            inventory = self._start_lab(inventory, scenario)
        self.inventory = inventory

    def _start_lab(self, inventory: Inventory, scenario: str) -> Inventory:
        from cas_conformance.lab.embedded import start_embedded_lab

        scenario_path = Path(scenario)
        if not scenario_path.is_absolute():
            scenario_path = Path(inventory.path).resolve().parent / scenario_path
        faults = tuple(self.config.getoption("lab_fault") or ())
        self.lab = start_embedded_lab(scenario_path, faults=faults, password=self.password)
        if self.password is None:
            self.password = self.lab.password
        self.environ.update(self.lab.environ)
        simulated = {name for name in inventory.hosts if self.lab.simulates(name)}
        line = inventory.all_var_lines.get("lab_scenario")
        # Hosts the lab does not simulate stay exactly as the inventory gives them.
        inventory = overlay_vars(inventory, self.lab.run_vars(), line, simulated, run_level=True)
        for name in simulated:
            inventory = overlay_vars(inventory, self.lab.host_vars(name), line, hosts={name})
        return inventory

    # --- facts ------------------------------------------------------------------------------
    @property
    def world(self) -> World:
        return self.ensure_world()

    def ensure_world(self) -> World:
        if self._world is None:
            assert self.inventory is not None
            self._world = gather(
                self.inventory,
                GatherOptions(
                    password=self.password,
                    environ=self.environ,
                    forks=int(self.config.getoption("forks")),
                    progress=self._progress,
                ),
            )
            save = self.config.getoption("save_facts")
            if save:
                save_world(self._world, save)
        return self._world

    def facts_file_for_workers(self) -> str:
        if self._worker_file is None:
            fd, path = tempfile.mkstemp(prefix="cas-conformance-facts-", suffix=".json")
            os.close(fd)
            save_world(self.world, path)
            self._worker_file = path
        return self._worker_file

    def _progress(self, event: str, subject: str, detail: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        if event == "collect-start":
            return
        if event == "collect-done":
            reporter.write_line(f"cas-conformance: collected {subject}: {detail}")
        else:
            reporter.write_line(f"cas-conformance: {event.replace('-done', '')} done: {detail}")

    # --- reporting --------------------------------------------------------------------------
    def header_lines(self) -> list[str]:
        world = self._world
        inventory = self.inventory or (world.inventory if world else None)
        lines = [f"cas-conformance inventory: {inventory.path if inventory else '?'}"]
        if self.lab is not None:
            lines.append(f"cas-conformance lab: {self.lab.describe()}")
        return lines

    def terminal_summary(self, reporter: Any) -> None:
        world = self._world
        if world is None or hasattr(self.config, "workerinput"):
            return
        reporter.section("cas-conformance servers")
        for name, rec in world.servers.items():
            status = "ok" if rec.facts is not None else f"ERROR {rec.error}"
            reporter.write_line(f"{name}: {rec.seconds:.1f} s, {status}")

    def close(self) -> None:
        if self.lab is not None:
            self.lab.stop()
            self.lab = None
        if self._worker_file:
            with contextlib.suppress(OSError):
                os.unlink(self._worker_file)


__all__ = ["CasConformanceError", "RunState", "state_key"]

"""The state of one conformance run inside pytest: the run's plan (inventory, settings, password),
embedded lab, facts, reports."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import warnings
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cas_conformance.checks import Case
from cas_conformance.domain.secret import Secret
from cas_conformance.domain.visible import visible
from cas_conformance.errors import CasConformanceError, InventoryError, LabError
from cas_conformance.evidence.view import EvidenceView
from cas_conformance.inventory import Inventory, VarMapping
from cas_conformance.inventory.for_run import load_for_run
from cas_conformance.pytest_plugin.progress_lines import ProgressLines
from cas_conformance.pytest_plugin.run_inputs import (
    InventoryWarning,
    ReportLinkRemover,
    ask_password,
    check_writable,
    inventory_source,
    is_controller,
    metadata_key,
    run_metadata,
    written_by_pytest,
)
from cas_conformance.report.gate import load_baseline, parse_gate_options
from cas_conformance.report.records import canonical_server, server_aliases
from cas_conformance.report.session_reports import SessionReports
from cas_conformance.report.waivers import WaiverSet, load_waivers
from cas_conformance.run.facts_file import load_world, save_world
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import RunPlan, plan_run
from cas_conformance.run.progress import Heartbeat
from cas_conformance.settings import resolve_password
from cas_conformance.settings.validate import unknown_variables

state_key = pytest.StashKey["RunState"]()


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
        self.plan: RunPlan | None = None
        self.lab: Any = None
        self.environ: dict[str, str] = dict(os.environ)
        self._world: EvidenceView | None = None
        self._worker_file: str | None = None
        self.cases: dict[str, dict[str, Case]] = {}
        self.today = date.today()
        self.waivers = WaiverSet(None)
        self.reports: SessionReports | None = None
        self.collapsed: list[Any] = []
        self.unknown: list[str] = []
        self._aliases: dict[str, str] | None = None

    # --- set-up, before any connection -----------------------------------------------------
    def configure(self) -> None:
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None and "cas_conformance_facts" in workerinput:
            self._world = load_world(workerinput["cas_conformance_facts"])
            return
        replay = self.config.getoption("replay_facts")
        if replay:
            self._world = load_world(replay)
            self._record_exchange_session(self._world)
            return
        source = inventory_source(self.config)
        assert source is not None  # not replaying: the given inventory, else the default
        inventory = load_for_run(
            source.given,
            limit=self.config.getoption("limit"),
            vault_password_file=self.config.getoption("vault_password_file"),
            require_hosts=True,
        )
        self.unknown = unknown_variables(inventory)
        ask = ask_password if self.config.getoption("ask_pass") else None
        password = resolve_password(
            inventory,
            environ=os.environ,
            ask=ask,
            warn=lambda message: warnings.warn(InventoryWarning(message), stacklevel=1),
        )
        scenario = inventory.all_vars.get("lab_scenario")
        if scenario:
            inventory, password = self._start_lab(inventory, scenario, password)
        self.plan = plan_run(inventory, password=password, source=source)

    def configure_reports(self, reports_dir: Path) -> None:
        """Waivers (every process applies them to its tests), and on the controller the baseline,
        the gate policy and the report writers. Runs before any connection: a bad file is a usage
        error, not a surprise after a long collection."""
        invocation = Path(self.config.invocation_params.dir)
        waivers = self.config.getoption("waivers")
        if waivers:
            self.waivers = load_waivers(Path(invocation, waivers).resolve())
        else:
            source = inventory_source(self.config)
            beside = Path(source.resolved).parent / "waivers.toml" if source else None
            if beside is not None and beside.is_file():
                self.waivers = load_waivers(beside)
        if not is_controller(self.config):
            return
        links = ReportLinkRemover(written_by_pytest(self.config))
        self.config.pluginmanager.register(links, "cas-conformance-report-links")
        save = self.config.getoption("save_facts")
        if save:
            check_writable("--save-facts", Path(invocation, save))
        policy = parse_gate_options(self.config.getoption("gate") or [])
        baseline_path = self.config.getoption("baseline")
        baseline = load_baseline(Path(invocation, baseline_path).resolve()) if baseline_path else None
        self.reports = SessionReports(
            reports_dir=reports_dir,
            metadata=run_metadata(self.config),
            waivers=self.waivers,
            baseline=baseline,
            policy=policy,
        )

    def _start_lab(
        self, inventory: Inventory, scenario: str, password: Secret | None
    ) -> tuple[Inventory, Secret | None]:
        """Start the embedded lab of *scenario*: the inventory with the lab's variables on the hosts
        it simulates, and the run's password (the lab's own when the run has none)."""
        line = inventory.all_var_lines.get("lab_scenario")
        try:  # the lab and its extra only here, for a run that starts one (LabError without the extra)
            from cas_conformance.lab import resolve_scenario, start_embedded_lab

            scenario_path = resolve_scenario(scenario, Path(inventory.base_dir).resolve())
        except LabError as exc:
            raise InventoryError(inventory.path, line, f"lab_scenario: {exc}") from None
        faults = tuple(self.config.getoption("lab_fault") or ())
        kerberos = inventory.all_vars.get("ansible_winrm_transport", "").strip().lower() == "kerberos"
        self.lab = start_embedded_lab(scenario_path, faults=faults, password=password, kerberos=kerberos)
        self._record_lab_faults(tuple(self.lab.lab.scenario.faults))
        if password is None:
            password = self.lab.password
        self.environ.update(self.lab.environ)
        simulated = {name for name in inventory.hosts if self.lab.simulates(name)}
        # Hosts the lab does not simulate stay exactly as the inventory gives them.
        inventory = overlay_vars(inventory, self.lab.run_vars(), line, simulated, run_level=True)
        for name in simulated:
            inventory = overlay_vars(inventory, self.lab.host_vars(name), line, hosts={name})
        return inventory, password

    def _record_lab_faults(self, faults: tuple[str, ...]) -> None:
        """The faults the lab runs with, the scenario's own (broken.toml) and --lab-fault's."""
        self._record(lab_faults=faults)

    def _record(self, **fields: Any) -> None:
        """Add *fields* to the run's metadata (results.json, remediation.ps1) and its rows
        (:meth:`RunMetadata.display`) to the HTML report's Environment table."""
        meta = dataclasses.replace(run_metadata(self.config), **fields)
        self.config.stash[metadata_key] = meta
        if self.reports is not None:
            self.reports.metadata = meta
        try:
            from pytest_metadata.plugin import metadata_key as table_key
        except ImportError:  # pragma: no cover - pytest-html brings pytest-metadata
            return
        table = self.config.stash.get(table_key, None)
        if table is not None:
            table.update(meta.display())

    # --- facts ------------------------------------------------------------------------------
    @property
    def world(self) -> EvidenceView:
        return self.ensure_world()

    def ensure_world(self) -> EvidenceView:
        if self._world is None:
            assert self.plan is not None
            lines = ProgressLines(self.config, total=len(self.plan.hosts))
            # before anything is collected: a misspelt variable keeps its default
            for message in self.unknown:
                lines.write_line(f"cas-conformance: WARNING: {message}")
            interval = float(self.config.getoption("progress_interval"))
            with Heartbeat(interval, lines.still_collecting, lines.write_line):
                self._world = gather(
                    self.plan,
                    GatherOptions(
                        environ=self.environ,
                        forks=int(self.config.getoption("forks")),
                        progress=lines.progress,
                    ),
                )
            save = self.config.getoption("save_facts")
            if save:
                save_world(self._world, save)
            self._record_exchange_session(self._world)
        return self._world

    def _record_exchange_session(self, world: EvidenceView) -> None:
        """The Client Access server that served Exchange remote PowerShell."""
        via = world.exchange.via
        self._record(exchange_powershell=via or None)

    def canonical_server(self, name: str) -> str:
        """*name* (an Exchange server name, vdir identity or host) as its inventory host."""
        if self._aliases is None:
            self._aliases = server_aliases(
                (host, rec.facts.local_server if rec.facts is not None else None)
                for host, rec in self.world.servers.items()
            )
        return canonical_server(name, self._aliases)

    def facts_file_for_workers(self) -> str:
        if self._worker_file is None:
            fd, path = tempfile.mkstemp(prefix="cas-conformance-facts-", suffix=".json")
            os.close(fd)
            save_world(self.world, path)
            self._worker_file = path
        return self._worker_file

    def collection_failure(self, server: str) -> str | None:
        """``host: reason`` when *server* (an inventory host) could not be collected, else None."""
        record = self.world.servers.get(server)
        if record is None or record.facts is not None:
            return None
        return f"{record.host}: {record.error.reason if record.error else 'not collected'}"

    # --- reporting --------------------------------------------------------------------------
    def header_lines(self) -> list[str]:
        world = self._world
        name = self.plan.source.resolved if self.plan else world.inventory.path if world else "?"
        lines = [f"cas-conformance inventory: {name}"]
        if self.lab is not None:
            lines.append(f"cas-conformance lab: {self.lab.describe()}")
        return lines

    def terminal_summary(self, reporter: Any) -> None:
        world = self._world
        if not is_controller(self.config):
            return
        if world is not None:
            reporter.section("cas-conformance servers")
            hidden = Counter(
                str(dict(tuple(pair) for pair in r.user_properties).get("server", "")) for r in self.collapsed
            )
            for name, rec in world.servers.items():
                if rec.facts is not None:
                    reporter.write_line(f"{name}: {rec.seconds:.1f} s, ok")
                    continue
                reason = rec.error.reason if rec.error else "not collected"
                tests = f"; {hidden[name]} test(s) not checked, their errors in JUnit and results.json"
                reporter.write_line(f"{name}: {visible(reason)}{tests if hidden[name] else ''}")
        if self.reports is not None:
            for title, lines in self.reports.terminal_sections():
                reporter.section(title)
                for line in lines:
                    reporter.write_line(line)

    def close(self) -> None:
        if self.lab is not None:
            self.lab.stop()
            self.lab = None
        if self._worker_file:
            with contextlib.suppress(OSError):
                os.unlink(self._worker_file)


__all__ = ["CasConformanceError", "RunState", "is_controller", "metadata_key", "run_metadata", "state_key"]

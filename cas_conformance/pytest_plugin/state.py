"""The state of one conformance run inside pytest: inventory, password, embedded lab, facts."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cas_conformance.checks import Case
from cas_conformance.checks.base import some_names
from cas_conformance.errors import CasConformanceError, InventoryError, LabError
from cas_conformance.evidence.view import EvidenceView
from cas_conformance.inventory import Inventory, VarMapping
from cas_conformance.inventory.for_run import load_for_run
from cas_conformance.pytest_plugin.rooting import workspace_dir
from cas_conformance.report.gate import load_baseline, parse_gate_options
from cas_conformance.report.records import canonical_server, server_aliases
from cas_conformance.report.run_metadata import RunMetadata, collect_run_metadata
from cas_conformance.report.session_reports import SessionReports
from cas_conformance.report.waivers import WaiverSet, load_waivers
from cas_conformance.run.facts_file import load_world, save_world
from cas_conformance.run.gather import GatherOptions, gather, winrm_hosts
from cas_conformance.run.progress import Heartbeat
from cas_conformance.settings import PASSWORD_ENV, Secret, resolve_password
from cas_conformance.settings.validate import unknown_variables, validate

state_key = pytest.StashKey["RunState"]()
metadata_key = pytest.StashKey[RunMetadata]()


def default_inventory(config: pytest.Config) -> str | None:
    """The inventory a run reads: --inventory, else inventory.ini at the root (none when replaying)."""
    given = config.getoption("inventory")
    if given:
        return str(given)
    if config.getoption("replay_facts"):
        return None
    return str(Path(workspace_dir(config), "inventory.ini"))


def run_metadata(config: pytest.Config) -> RunMetadata:
    """This process's run metadata, computed once (pytest-metadata may ask before our configure)."""
    meta = config.stash.get(metadata_key, None)
    if meta is None:
        invocation = Path(config.invocation_params.dir)
        inventory, replay = default_inventory(config), config.getoption("replay_facts")
        meta = collect_run_metadata(
            # Absolute, as one file has one name: the same record however the path was typed.
            inventory=str(Path(invocation, inventory).resolve()) if inventory else None,
            replay_facts=str(Path(invocation, replay).resolve()) if replay else None,
            lab_faults=tuple(config.getoption("lab_fault") or ()),
            base_dir=invocation,
        )
        config.stash[metadata_key] = meta
    return meta


def is_controller(config: pytest.Config) -> bool:
    """The process that sees every test's report: not an xdist worker."""
    return not hasattr(config, "workerinput")


def ask_password() -> str:
    """The --ask-pass prompt; without a terminal to ask on, a usage error saying what to do instead."""
    if sys.stdin is None or not sys.stdin.isatty():
        raise CasConformanceError(
            f"--ask-pass needs a terminal to prompt on (standard input is not one): set {PASSWORD_ENV} "
            "in the environment instead"
        )
    try:
        return getpass.getpass("WinRM password: ")
    except EOFError:
        raise CasConformanceError(
            f"--ask-pass: no password was typed (end of input): set {PASSWORD_ENV} instead"
        ) from None


def _check_writable(option: str, path: Path) -> None:
    """A file the run will write: refused before any connection when it cannot be written."""
    if path.is_dir():
        raise CasConformanceError(
            f"{option} {path}: is a directory; give a file name, e.g. {path / 'facts.json'}"
        )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise CasConformanceError(f"{option} {path}: {parent} is not a writable directory")


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
        self._world: EvidenceView | None = None
        self._worker_file: str | None = None
        self.cases: dict[str, dict[str, Case]] = {}
        self.today = date.today()
        self.waivers = WaiverSet(None)
        self.reports: SessionReports | None = None
        self._progress_lock = threading.Lock()
        self._started = 0
        self._collecting: dict[str, float] = {}
        self._warned: dict[str, list[str]] = {}  # a warning's text after its server -> servers
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
        path = self.config.getoption("inventory") or str(Path(workspace_dir(self.config), "inventory.ini"))
        inventory = load_for_run(
            path,
            limit=self.config.getoption("limit"),
            vault_password_file=self.config.getoption("vault_password_file"),
        )
        self.unknown = unknown_variables(inventory)
        ask = ask_password if self.config.getoption("ask_pass") else None
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
        validate(inventory, winrm_hosts(inventory), password=self.password)

    def configure_reports(self, reports_dir: Path) -> None:
        """Waivers (every process applies them to its tests), and on the controller the baseline,
        the gate policy and the report writers. Runs before any connection: a bad file is a usage
        error, not a surprise after a long collection."""
        invocation = Path(self.config.invocation_params.dir)
        waivers = self.config.getoption("waivers")
        if waivers:
            self.waivers = load_waivers(Path(invocation, waivers).resolve())
        else:
            inventory = default_inventory(self.config)
            beside = Path(invocation, inventory).resolve().parent / "waivers.toml" if inventory else None
            if beside is not None and beside.is_file():
                self.waivers = load_waivers(beside)
        if not is_controller(self.config):
            return
        save = self.config.getoption("save_facts")
        if save:
            _check_writable("--save-facts", Path(invocation, save))
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

    def _start_lab(self, inventory: Inventory, scenario: str) -> Inventory:
        line = inventory.all_var_lines.get("lab_scenario")
        try:  # the lab and its extra only here, for a run that starts one (LabError without the extra)
            from cas_conformance.lab import resolve_scenario, start_embedded_lab

            scenario_path = resolve_scenario(scenario, Path(inventory.base_dir).resolve())
        except LabError as exc:
            raise InventoryError(inventory.path, line, f"lab_scenario: {exc}") from None
        faults = tuple(self.config.getoption("lab_fault") or ())
        kerberos = inventory.all_vars.get("ansible_winrm_transport", "").strip().lower() == "kerberos"
        self.lab = start_embedded_lab(scenario_path, faults=faults, password=self.password, kerberos=kerberos)
        self._record_lab_faults(tuple(self.lab.lab.scenario.faults))
        if self.password is None:
            self.password = self.lab.password
        self.environ.update(self.lab.environ)
        simulated = {name for name in inventory.hosts if self.lab.simulates(name)}
        # Hosts the lab does not simulate stay exactly as the inventory gives them.
        inventory = overlay_vars(inventory, self.lab.run_vars(), line, simulated, run_level=True)
        for name in simulated:
            inventory = overlay_vars(inventory, self.lab.host_vars(name), line, hosts={name})
        return inventory

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
            assert self.inventory is not None
            # before anything is collected: a misspelt variable keeps its default
            for message in self.unknown:
                self._write_line(f"cas-conformance: WARNING: {message}")
            interval = float(self.config.getoption("progress_interval"))
            with Heartbeat(interval, self._still_collecting_line, self._write_line):
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

    def _write_line(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        with self._progress_lock:
            reporter.write_line(line)

    def _progress(self, event: str, subject: str, detail: str) -> None:
        """One line per event: which server is being collected, how many are done, how long each
        took. Collector threads report too, hence the lock."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        with self._progress_lock:
            line = self._progress_line(event, subject, detail)
            if reporter is not None and line is not None:
                reporter.write_line(line)

    def _still_collecting_line(self, now: float) -> str | None:
        with self._progress_lock:
            pending = [(name, now - t) for name, t in self._collecting.items()]
        if not pending:
            return None
        names = some_names([f"{name} ({seconds:.0f} s)" for name, seconds in sorted(pending)])
        return f"cas-conformance: still collecting {names}"

    def _progress_line(self, event: str, subject: str, detail: str) -> str | None:
        if event == "collect-start":
            self._collecting[subject] = time.monotonic()
            self._started += 1
            total = len(winrm_hosts(self.inventory)) if self.inventory is not None else 0
            of = f"/{total}" if total else ""
            return f"cas-conformance: collecting {subject} ({self._started}{of} started) ..."
        if event == "collect-done":
            self._collecting.pop(subject, None)
            # gather reports "DONE/TOTAL SECONDSs STATUS"
            count, _, rest = detail.partition(" ")
            seconds, _, status = rest.partition(" ")
            if status.startswith("error"):
                status = "could not be collected (the reason is in the summary)"
            if "/" in count and seconds.endswith("s"):
                return f"cas-conformance: [{count}] collected {subject} in {seconds[:-1]} s: {status}"
            return f"cas-conformance: collected {subject}: {detail}"
        if event == "warning":
            return self._warning_line(subject, detail)
        if event == "exchange-done":
            if subject:
                return f"cas-conformance: Exchange facts read through Exchange remote PowerShell on {subject}"
            return f"cas-conformance: Exchange facts could not be read: {detail}"
        if event == "gathered":
            return "\n".join([*self._repeated_warnings(), f"cas-conformance: all facts gathered in {detail}"])
        return f"cas-conformance: {event.replace('-done', '')} done: {detail}"

    def _warning_line(self, server: str, text: str) -> str | None:
        """The first server's warning in full; the same warning of further servers is one line
        naming them all once gathering is over (2,000 servers speaking TLS 1.0 only are two lines,
        not 2,000)."""
        prefix = f"{server}: "
        if not server or not text.startswith(prefix):
            return f"cas-conformance: WARNING: {text}"
        servers = self._warned.setdefault(text[len(prefix) :].replace(server, "<server>"), [])
        servers.append(server)
        return f"cas-conformance: WARNING: {text}" if len(servers) == 1 else None

    def _repeated_warnings(self) -> list[str]:
        lines = []
        for text, servers in self._warned.items():
            if len(servers) > 1:
                more = servers[1:]
                lines.append(
                    f"cas-conformance: WARNING: the same on {len(more)} more server{'s' if len(more) > 1 else ''} "
                    f"({', '.join(more)}): {text}"
                )
        self._warned.clear()
        return lines

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
                reporter.write_line(f"{name}: {reason}{tests if hidden[name] else ''}")
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


__all__ = ["CasConformanceError", "RunState", "state_key"]

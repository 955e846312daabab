"""What a conformance run is given, read once before any connection: the inventory it reads (as
given, and resolved once), its metadata, the password prompt, and the files it will write."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import pytest

from cas_conformance.errors import CasConformanceError
from cas_conformance.pytest_plugin.rooting import workspace_dir
from cas_conformance.report.run_metadata import RunMetadata, collect_run_metadata
from cas_conformance.run.plan import InventorySource
from cas_conformance.settings import PASSWORD_ENV

metadata_key = pytest.StashKey[RunMetadata]()
source_key = pytest.StashKey["InventorySource | None"]()


def default_inventory(config: pytest.Config) -> str | None:
    """The inventory a run reads: --inventory, else inventory.ini at the root (none when replaying)."""
    given = config.getoption("inventory")
    if given:
        return str(given)
    if config.getoption("replay_facts"):
        return None
    return str(Path(workspace_dir(config), "inventory.ini"))


def inventory_source(config: pytest.Config) -> InventorySource | None:
    """The inventory a run reads (:func:`default_inventory`), resolved once against the directory
    the run was started in: one file has one name in every output, however its path was typed."""
    if source_key not in config.stash:
        given = default_inventory(config)
        config.stash[source_key] = InventorySource.at(given, config.invocation_params.dir) if given else None
    return config.stash[source_key]


def run_metadata(config: pytest.Config) -> RunMetadata:
    """This process's run metadata, computed once (pytest-metadata may ask before our configure)."""
    meta = config.stash.get(metadata_key, None)
    if meta is None:
        invocation = Path(config.invocation_params.dir)
        source, replay = inventory_source(config), config.getoption("replay_facts")
        meta = collect_run_metadata(
            inventory=source.resolved if source else None,
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


def check_writable(option: str, path: Path) -> None:
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


def written_by_pytest(config: pytest.Config) -> tuple[Path, ...]:
    """Where pytest writes junit.xml (--junitxml) and pytest-html report.html (--html), as they
    resolve the options (against the current directory)."""
    given = (getattr(config.option, "xmlpath", None), getattr(config.option, "htmlpath", None))
    return tuple(Path(os.path.abspath(os.path.expanduser(os.path.expandvars(p)))) for p in given if p)


class ReportLinkRemover:
    """pytest and pytest-html write junit.xml and report.html with ``open(path, "w")``, which
    follows a symbolic link at the path (its target would be overwritten): a link found at one of
    those paths is removed before they write (at session start and end), so the report is a new
    regular file in the link's place."""

    def __init__(self, paths: tuple[Path, ...]) -> None:
        self.paths = paths

    def remove_links(self) -> None:
        for path in self.paths:
            if path.is_symlink():
                path.unlink(missing_ok=True)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        self.remove_links()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.remove_links()


class InventoryWarning(UserWarning):
    """Something in the inventory works but is discouraged (a password in it)."""

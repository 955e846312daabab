"""Every run of the suite rooted at the suite, however its paths are typed and wherever it starts.

pytest picks its rootdir and configuration file before it loads any plugin, from the first
arguments that look like paths: in ``pytest --baseline /srv/gates/x.json`` it takes
``/srv/gates/x.json`` for a test path (it does not know ``--baseline`` yet), roots the run at
``/srv/gates``, misses ``pyproject.toml`` and with it ``addopts`` and ``testpaths``; the test ids
then change with the spelling (``--baseline=...`` does not do it). No hook of an installed plugin
runs before that decision, so the plugin checks it at the first hook that can still change the
whole run, ``pytest_cmdline_main`` (nothing is configured, collected or connected yet): when a run
of the suite is rooted anywhere but at the suite (``locations.SuiteHome``), it runs pytest again
with the same arguments and the root pinned, ``--rootdir=<suite> --config-file=<suite>/pyproject.toml``.
The console script (``cli``) pins the root itself, so it never needs the second start.

A run that gives ``--rootdir`` or ``-c``/``--config-file`` itself keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from cas_conformance.locations import SuiteHome, suite_home


def pinned_args(home: SuiteHome, args: Sequence[str]) -> list[str]:
    """*args* with the run rooted at the suite."""
    return [f"--rootdir={home.root}", f"--config-file={home.config}", *args]


def workspace_dir(config: pytest.Config) -> Path:
    """Where a run's defaults live (``inventory.ini``, ``reports/``): the checkout's root, or for
    an installed suite the directory pytest was started in."""
    home = suite_home()
    if home is not None and home.checkout:
        return home.root
    return Path(config.invocation_params.dir)


def suite_paths(config: pytest.Config) -> list[Path]:
    """The suite's test directories (the ``cas_conformance_paths`` ini value, under the suite root)."""
    home = suite_home()
    root = home.root if home is not None else config.rootpath
    if not is_rooted(config):
        return [root / "tests_cas"]
    return [Path(root, p).resolve() for p in config.getini("cas_conformance_paths")]


def is_rooted(config: pytest.Config) -> bool:
    """The run is rooted at the suite and reads the suite's configuration."""
    home = suite_home()
    if home is None or config.inipath is None:
        return False
    return _same(config.rootpath, home.root) and _same(config.inipath, home.config)


# The plugin's options that make a run a conformance run (``--forks`` has a default, so it cannot).
RUN_OPTIONS = (
    "inventory",
    "replay_facts",
    "baseline",
    "save_facts",
    "waivers",
    "reports_dir",
    "lab_fault",
    "gate",
)


def runs_the_suite(config: pytest.Config) -> bool:
    """A conformance run: one of the plugin's options given (an inventory, facts, a baseline ...),
    a path inside the suite given, or a run rooted at the suite with no test path (the console
    script from any directory)."""
    if any(config.getoption(name, None) for name in RUN_OPTIONS):
        return True
    if config.args_source is pytest.Config.ArgsSource.INVOCATION_DIR and is_rooted(config):
        return True
    suite = suite_paths(config)
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        if any(path == s or s in path.parents for s in suite):
            return True
    return False


def suite_args(config: pytest.Config) -> list[str]:
    """The test paths of a conformance run: with none given, the suite (pytest would take the
    working directory outside the suite's root, where testpaths do not apply); a given path that
    is not there but is in the suite (``tests_cas/test_x.py::test_y[cas01]``, as every report names
    a test) is the suite's, so a test id selects its test from any directory."""
    if config.args_source is pytest.Config.ArgsSource.INVOCATION_DIR:
        suites = [str(p) for p in suite_paths(config) if p.is_dir()]
        return suites or list(config.args)
    home = suite_home()
    if home is None:
        return list(config.args)
    args = []
    for arg in config.args:
        path, sep, rest = arg.partition("::")
        here, there = Path(config.invocation_params.dir, path), home.root / path
        args.append(f"{there}{sep}{rest}" if not here.exists() and there.exists() else arg)
    return args


def restart_args(config: pytest.Config) -> list[str] | None:
    """The arguments of a second start rooted at the suite, or None when this run may go on: it is
    rooted already, is not a conformance run, is an xdist worker (its controller pinned the root),
    asks for help or the version, or chose its own root or configuration file."""
    home = suite_home()
    option = config.option
    if (
        home is None
        or hasattr(config, "workerinput")
        or getattr(option, "help", False)
        or getattr(option, "version", False)
        or getattr(option, "rootdir", None)
        or getattr(option, "inifilename", None)
        or is_rooted(config)
        or not runs_the_suite(config)
    ):
        return None
    return pinned_args(home, config.invocation_params.args)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False

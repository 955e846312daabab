"""Where the suite, its pytest configuration and the lab's scenarios are, installed or in a checkout.

One source in the repository: ``tests_cas/``, ``pyproject.toml``'s ``[tool.pytest.ini_options]``
and ``fixtures/lab/*.toml``. A wheel carries copies, made when it is built (``setup.py``):

    cas_conformance/suite/tests_cas/*.py      the suite, as in the checkout
    cas_conformance/suite/pyproject.toml      the pytest section of the project's pyproject.toml
    cas_conformance/lab/scenarios/*.toml      the lab's scenarios

Both layouts have the same shape (a directory with ``pyproject.toml`` and ``tests_cas/``), so a
run rooted at either has the same test ids (``tests_cas/test_x.py::test_y[cas01]``) and options.
A checkout (the package imported from it, as ``pip install -e .`` does) has no copies and uses
the originals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SUITE_DIRNAME = "tests_cas"
CONFIG_NAME = "pyproject.toml"
PACKAGED_SUITE = PACKAGE_DIR / "suite"
PACKAGED_SCENARIOS = PACKAGE_DIR / "lab" / "scenarios"
CHECKOUT = PACKAGE_DIR.parent


@dataclass(frozen=True)
class SuiteHome:
    """The suite's root (pytest's rootdir for every run of it), its configuration file, and whether
    it is a checkout (whose root also holds ``inventory.ini`` and ``reports/``) or installed."""

    root: Path
    config: Path
    checkout: bool

    @property
    def tests(self) -> Path:
        return self.root / SUITE_DIRNAME


def _is_suite_root(path: Path) -> bool:
    return (path / SUITE_DIRNAME).is_dir() and (path / CONFIG_NAME).is_file()


def suite_home() -> SuiteHome | None:
    """The installed suite, else the checkout this package was imported from; None when neither
    is there (a wheel built without the suite)."""
    if _is_suite_root(PACKAGED_SUITE):
        return SuiteHome(PACKAGED_SUITE, PACKAGED_SUITE / CONFIG_NAME, checkout=False)
    if _is_suite_root(CHECKOUT):
        return SuiteHome(CHECKOUT, CHECKOUT / CONFIG_NAME, checkout=True)
    return None


def scenario_dir() -> Path:
    """Where the lab's scenarios by name live: the installed copies, else ``fixtures/lab``."""
    if PACKAGED_SCENARIOS.is_dir():
        return PACKAGED_SCENARIOS
    return CHECKOUT / "fixtures" / "lab"

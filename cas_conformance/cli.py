"""``cas-conformance``: the suite, the lab and the inventory from one command (for pipx users, whose
pytest is inside the tool's own environment).

    cas-conformance [--inventory PATH] [pytest options]   the suite (pytest, rooted at the suite)
    cas-conformance lab serve|faults ...                  python -m cas_conformance.lab
    cas-conformance inventory --list [--inventory PATH]   the effective inventory as JSON

``python -m cas_conformance`` is the same command.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

PROG = "cas-conformance"
USAGE = f"""\
usage: {PROG} [--inventory PATH] [pytest options]    the conformance suite (pytest, rooted at the suite)
       {PROG} lab serve|faults ...                  the built-in lab (python -m cas_conformance.lab)
       {PROG} inventory --list [--inventory PATH]   the effective inventory as JSON
"""
INVENTORY_MODULE = "cas_conformance.inventory.command"


def _lab(argv: list[str]) -> int:
    from cas_conformance.errors import LabError

    try:  # the lab and its extra only for this command (LabError without the extra)
        from cas_conformance.lab.__main__ import main as lab_main
    except LabError as exc:
        print(f"{PROG} lab: {exc}", file=sys.stderr)
        return 4
    return lab_main(argv, prog=f"{PROG} lab")


def _inventory(argv: list[str]) -> int:
    try:
        inventory_cli = importlib.import_module(INVENTORY_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != INVENTORY_MODULE:
            raise
        print(f"{PROG} inventory: not available in this version of cas-conformance", file=sys.stderr)
        return 2
    inventory_main: Callable[[list[str]], int] = inventory_cli.main
    return int(inventory_main(argv))


def _suite(argv: list[str]) -> int:
    import pytest

    from cas_conformance.locations import suite_home
    from cas_conformance.pytest_plugin.rooting import pinned_args

    home = suite_home()
    if home is None:
        print(f"{PROG}: the conformance suite is not installed with this package", file=sys.stderr)
        return 4
    return int(pytest.main(pinned_args(home, argv)))


COMMANDS: dict[str, Callable[[list[str]], int]] = {"lab": _lab, "inventory": _inventory}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]](args[1:])
    if "-h" in args or "--help" in args:
        print(USAGE)  # then pytest's own help, with the suite's options under "cas-conformance"
    return _suite(args)

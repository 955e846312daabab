"""``python -m cas_conformance inventory --list ...``: the command-line entry points by name."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["inventory"]:
        from cas_conformance.inventory_cli import main as inventory_main

        return inventory_main(argv[1:])
    print("usage: python -m cas_conformance inventory --list [--inventory PATH]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

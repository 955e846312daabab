"""``inventory --list``: print the inventory the suite will use, in ansible-inventory's JSON shape.

    python -m cas_conformance inventory --list [--inventory PATH] [--vault-password-file PATH]
                                               [--limit PATTERN]

so an administrator can compare it with ``ansible-inventory -i PATH --list``. Passwords are
masked. A bad inventory is one ``file:line: message`` line on stderr and exit status 4.
"""

from __future__ import annotations

import argparse
import os
import sys

from cas_conformance.errors import InventoryError
from cas_conformance.inventory.for_run import load_for_run
from cas_conformance.inventory.listing import dump

USAGE_ERROR = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cas-conformance inventory",
        description="Print the effective inventory as ansible-inventory --list does (passwords masked).",
    )
    parser.add_argument(
        "--list", action="store_true", required=True, help="print the whole inventory as JSON"
    )
    parser.add_argument(
        "--inventory", "-i", default="inventory.ini", metavar="PATH", help="inventory file or directory"
    )
    parser.add_argument(
        "--vault-password-file",
        default=None,
        metavar="PATH",
        help="decrypt Vault values with the password in PATH (else ANSIBLE_VAULT_PASSWORD_FILE)",
    )
    parser.add_argument("--limit", default=None, metavar="PATTERN", help="only the hosts PATTERN selects")
    return parser


def main(argv: list[str]) -> int:
    options = _parser().parse_args(argv)
    try:
        inventory = load_for_run(
            options.inventory,
            limit=options.limit,
            vault_password_file=options.vault_password_file,
            require_vault=False,
        )
    except InventoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    try:
        print(dump(inventory), flush=True)
    except BrokenPipeError:  # the reader stopped early (| head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0

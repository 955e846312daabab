"""The environment a child process of the suite runs with: the suite's own, less every password.

The suite reads the WinRM password from ``CAS_CONFORMANCE_PASSWORD`` and a test mailbox's from
``<PREFIX>_PASSWORD``, *PREFIX* being the inventory's ``probe_credentials``. A child process (the
``ansible-inventory`` that reads a dynamic source, the source itself, a Vault password script)
runs before that prefix is known (the inventory it reads may declare it), so every variable whose
name ends in ``_PASSWORD`` is left out: none of them can reach a program the inventory names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

PASSWORD_SUFFIX = "_PASSWORD"


def is_password_variable(name: str) -> bool:
    """A variable the suite may read a password from (``CAS_CONFORMANCE_PASSWORD``, ``<PREFIX>_PASSWORD``)."""
    return name.upper().endswith(PASSWORD_SUFFIX)


def child_environment(environ: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """*environ* (default: this process's) without its password variables, plus *extra*."""
    source = os.environ if environ is None else environ
    kept = {name: value for name, value in source.items() if not is_password_variable(name)}
    return {**kept, **extra}

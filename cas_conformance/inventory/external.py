"""Any other inventory source (a dynamic inventory script, a plugin configuration, TOML) through
ansible-core's own ``ansible-inventory --list``, where ansible-core is installed.

Its output holds every host's variables already merged (``group_vars``/``host_vars`` included),
so each becomes a host variable of the source file, without a line. The run's Vault password, if
any, goes to ``ansible-inventory --vault-password-file`` through a file only this user can read,
in a private temporary directory removed at once (a whole-file encrypted ``group_vars`` file beside
the source needs it; ansible-inventory prints encrypted values as ``__ansible_vault`` either way).
ansible-inventory, and the source it runs, get no password variable of the environment
(:mod:`~cas_conformance.inventory.child_environment`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from cas_conformance.errors import InventoryError
from cas_conformance.inventory.build import Builder, Decrypt, Layer
from cas_conformance.inventory.child_environment import child_environment
from cas_conformance.inventory.model import ALL, Inventory
from cas_conformance.inventory.values import Origin, VaultValue

TIMEOUT_SECONDS = 300.0


def ansible_inventory_command() -> str | None:
    """``ansible-inventory`` beside this Python (a venv), else on PATH; None when not installed."""
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("ansible-inventory")


def _values(data: object) -> object:
    if isinstance(data, dict):
        if set(data) == {"__ansible_vault"}:
            return VaultValue(str(data["__ansible_vault"]))
        return {k: _values(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_values(v) for v in data]
    return data


@contextmanager
def _password_file(password: bytes | None) -> Iterator[list[str]]:
    """``--vault-password-file F`` for *password* (F readable by this user only, then removed)."""
    if password is None:
        yield []
        return
    with tempfile.TemporaryDirectory(prefix="cas-conformance-vault-") as folder:  # mode 0700
        name = os.path.join(folder, "vault-password")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(password)
        yield ["--vault-password-file", name]


def run_ansible_inventory(
    path: str, timeout: float = TIMEOUT_SECONDS, *, vault_password: bytes | None = None
) -> dict[str, object]:
    """The JSON ``ansible-inventory -i PATH --list`` prints; an InventoryError when it cannot."""
    command = ansible_inventory_command()
    if command is None:
        raise InventoryError(
            path,
            None,
            "not an INI or YAML inventory; reading it needs ansible-core (ansible-inventory), not installed",
        )
    env = child_environment(ANSIBLE_INVENTORY_UNPARSED_FAILED="1", ANSIBLE_NOCOLOR="1")
    try:
        with _password_file(vault_password) as vault_options:
            done = subprocess.run(
                [command, "-i", path, "--list", *vault_options],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
    except subprocess.TimeoutExpired:
        raise InventoryError(path, None, f"ansible-inventory did not finish in {timeout:.0f} s") from None
    except OSError as exc:
        raise InventoryError(path, None, f"cannot run ansible-inventory: {exc.strerror or exc}") from None
    if done.returncode != 0:
        last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["no message"]
        raise InventoryError(
            path, None, f"ansible-inventory failed (exit {done.returncode}): {last[0].strip()}"
        )
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise InventoryError(path, None, "ansible-inventory printed something that is not JSON") from None
    if not isinstance(data, dict):
        raise InventoryError(path, None, "ansible-inventory printed JSON that is not an inventory")
    return data


def read_external(path: str, decrypt: Decrypt | None, vault_password: bytes | None = None) -> Inventory:
    data = run_ansible_inventory(path, vault_password=vault_password)
    builder = Builder(path)
    origin = Origin(path, None)
    meta = data.get("_meta")
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else {}
    pending = [ALL]
    seen = {ALL}
    while pending:
        name = pending.pop(0)
        body = data.get(name)
        body = body if isinstance(body, dict) else {}
        builder.add_group(name, origin)
        for host in body.get("hosts", []):
            own = hostvars.get(host, {}) if isinstance(hostvars, dict) else {}
            values: Layer = {str(k): (_values(v), origin) for k, v in (own or {}).items()}
            builder.add_host(str(host), name, origin, values)
        for child in body.get("children", []):
            builder.add_child(name, str(child), origin)
            if child not in seen:
                seen.add(child)
                pending.append(str(child))
    return builder.finish(lambda kind, name: {}, decrypt)

"""The inventory an Exchange team already keeps for Ansible, read as Ansible reads it.

One entry point, :func:`load_inventory`, for what ``ansible-inventory -i PATH`` accepts: an INI
or YAML inventory file, a directory of them (every file, in Ansible's order and ignore rules),
``group_vars/`` and ``host_vars/`` beside it, and, where ansible-core is installed, anything else
(a dynamic inventory script, a plugin configuration) through ``ansible-inventory --list``.
Variables merge in Ansible's precedence and keep, each, the file and line that set them (see
:mod:`cas_conformance.inventory.build`); Vault values are decrypted with the Vault password.

The objects (:class:`Inventory`, :class:`Host`, :class:`Group`, :class:`VarMapping`) live in
:mod:`cas_conformance.inventory.model`; docs/inventory.md lists the deliberate
differences from Ansible.
"""

from __future__ import annotations

import os
import re

from cas_conformance.errors import InventoryError
from cas_conformance.inventory.build import Builder, Decrypt
from cas_conformance.inventory.external import read_external
from cas_conformance.inventory.files import read_text, vars_reader
from cas_conformance.inventory.ini import read_ini
from cas_conformance.inventory.model import (
    Inventory,
)
from cas_conformance.inventory.values import Origin, VaultValue
from cas_conformance.inventory.vault import VaultFormatError, VaultPasswordError, decrypt, is_vault
from cas_conformance.inventory.yaml_file import YamlReader, is_yaml_inventory, load_yaml

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
# Ansible's defaults: hidden files and the vars folders, then INVENTORY_IGNORE_EXTS.
_IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$|"
    + "|".join(
        re.escape(ext) + "$"
        for ext in (
            ".pyc",
            ".pyo",
            ".swp",
            ".bak",
            "~",
            ".rpm",
            ".md",
            ".txt",
            ".rst",
            ".orig",
            ".cfg",
            ".retry",
        )
    )
)


def vault_decrypter(password: bytes | None) -> Decrypt | None:
    """Decrypts a Vault value with *password*; a wrong password is an error at the value's line."""
    if password is None:
        return None

    def run(value: VaultValue, origin: Origin, name: str) -> str:
        try:
            return decrypt(value.ciphertext, password)
        except VaultPasswordError:
            raise InventoryError(
                origin.file,
                origin.line,
                f"{name}: the Vault password does not decrypt this value (wrong Vault password?)",
            ) from None
        except VaultFormatError as exc:
            raise InventoryError(
                origin.file, origin.line, f"{name}: not a valid Vault value: {exc}"
            ) from None

    return run


def parse_inventory(text: str, path: str, *, vault_password: bytes | None = None) -> Inventory:
    """Parse INI inventory *text*; *path* names it in errors (no group_vars/host_vars are read)."""
    builder = Builder(path)
    read_ini(builder, text, path)
    decrypter = vault_decrypter(vault_password)
    return builder.finish(vars_reader(None, decrypter), decrypter)


def load_inventory(path: str | os.PathLike[str], *, vault_password: bytes | None = None) -> Inventory:
    """Read the inventory at *path* (a file or a directory); any failure is an InventoryError."""
    name = os.fspath(path)
    decrypter = vault_decrypter(vault_password)
    if not os.path.exists(name):
        raise InventoryError(name, None, "cannot read the inventory: No such file or directory")
    builder = Builder(name)
    if os.path.isdir(name):
        external = _read_directory(builder, name, decrypter)
    else:
        external = _read_source(builder, name, decrypter, vault_password)
    if external is not None:
        return external
    base = name if os.path.isdir(name) else os.path.dirname(os.path.abspath(name))
    return builder.finish(vars_reader(base, decrypter), decrypter)


def _read_directory(builder: Builder, folder: str, decrypter: Decrypt | None) -> Inventory | None:
    for entry in sorted(os.listdir(folder)):
        if _IGNORED.search(entry):
            continue
        full = os.path.join(folder, entry)
        if os.path.isdir(full):
            _read_directory(builder, full, decrypter)
        elif _read_source(builder, full, decrypter) is not None:
            raise InventoryError(
                full,
                None,
                "an inventory directory may hold INI and YAML inventories only: give this source on its own",
            )
    return None


def _read_source(
    builder: Builder, path: str, decrypter: Decrypt | None, vault_password: bytes | None = None
) -> Inventory | None:
    """Add one file to *builder*; a source only ansible-inventory reads comes back whole instead
    (*vault_password* goes to ansible-inventory; inside a directory such a source is refused)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".toml" or (os.access(path, os.X_OK) and os.path.isfile(path)):
        return read_external(path, decrypter, vault_password)
    text = read_text(path)
    if is_vault(text):  # a whole inventory file encrypted with ansible-vault
        if decrypter is None:
            raise InventoryError(
                path,
                1,
                "the inventory is Vault-encrypted: give --vault-password-file or ANSIBLE_VAULT_PASSWORD_FILE",
            )
        text = decrypter(VaultValue(text), Origin(path, 1), os.path.basename(path))
    if ext in YAML_EXTENSIONS or not ext:
        try:
            data = load_yaml(text, path)
        except InventoryError:
            if ext:
                raise
            data = None
        if is_yaml_inventory(data):
            assert isinstance(data, dict)
            YamlReader(builder, path).read(data)
            return None
        if isinstance(data, dict) and "plugin" in data:
            return read_external(path, decrypter)
        if ext:
            raise InventoryError(path, 1, "a YAML inventory must be a mapping of group names (all:, ...)")
    read_ini(builder, text, path)
    return None

"""Reading inventory files from disk: text with a `file:line` for every failure, ``group_vars/`` and
``host_vars/`` as Ansible's host_group_vars plugin finds them, whole-file Vault included."""

from __future__ import annotations

import os

from cas_conformance.errors import InventoryError
from cas_conformance.inventory.build import Decrypt, Layer, VarsReader
from cas_conformance.inventory.values import Origin, VaultValue
from cas_conformance.inventory.vault import is_vault
from cas_conformance.inventory.yaml_file import load_yaml, vars_layer

VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")


def read_text(path: str, what: str = "inventory") -> str:
    """The UTF-8 text of *path* (a BOM allowed); any failure is an InventoryError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InventoryError(path, None, f"cannot read the {what}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError(path, line, f"the {what} is not UTF-8 text") from None


def vars_files(base: str, name: str) -> list[str]:
    """Ansible's find_vars_files: ``<name>``, ``<name>.yml``, ``.yaml``, ``.json`` (the first that
    exists); a folder ``<name>/`` gives every file in it (recursively, sorted, hidden and ``~``
    backups skipped) with one of those extensions or none."""
    stem = os.path.join(base, name)
    for ext in VARS_EXTENSIONS:
        candidate = stem + ext
        if os.path.isdir(candidate):
            return _folder_files(candidate)
        if os.path.exists(candidate):
            return [candidate]
    return []


def _folder_files(folder: str) -> list[str]:
    found: list[str] = []
    for entry in sorted(os.listdir(folder)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        full = os.path.join(folder, entry)
        ext = os.path.splitext(entry)[1]
        if os.path.isdir(full) and not ext:
            found.extend(_folder_files(full))
        elif os.path.isfile(full) and ext in VARS_EXTENSIONS:
            found.append(full)
    return found


def vars_reader(base: str | None, decrypt: Decrypt | None) -> VarsReader:
    """Reads ``<base>/group_vars/<group>`` and ``<base>/host_vars/<host>`` (nothing without a base)."""

    def read(kind: str, name: str) -> Layer:
        folder = os.path.join(base, kind) if base is not None else None
        if folder is None or not os.path.isdir(folder) or name.startswith(os.sep):
            return {}
        layer: Layer = {}
        for path in vars_files(folder, name):
            text = read_text(path, "vars file")
            if is_vault(text):
                if decrypt is None:
                    raise InventoryError(
                        path,
                        1,
                        "the file is Vault-encrypted: give --vault-password-file or ANSIBLE_VAULT_PASSWORD_FILE",
                    )
                text = decrypt(VaultValue(text), Origin(path, 1), os.path.basename(path))
            layer.update(vars_layer(load_yaml(text, path), path))
        return layer

    return read

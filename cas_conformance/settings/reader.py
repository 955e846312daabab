"""Reading one variable set of the inventory (all:vars, or one host's effective variables): each
value through its parser, a ValueError becoming the usage error at the line that set it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from cas_conformance.inventory import Host, Inventory
from cas_conformance.settings.values import is_ca_bundle

T = TypeVar("T")


class Reader:
    """Reads one variable set, turning a parser's ValueError into an InventoryError at the var's line."""

    def __init__(self, inventory: Inventory, host: Host | None) -> None:
        self.inventory = inventory
        self.host = host
        self.values = host.vars if host is not None else inventory.all_vars

    def get(self, var: str, parse: Callable[[str], T], default: T) -> T:
        text = self.values.get(var)
        if text is None:
            return default
        try:
            return parse(text)
        except ValueError as exc:
            raise self.inventory.error(self.host, var, f"invalid {var}: {exc}") from None

    def path(self, var: str) -> str | None:
        """A local file, relative to the inventory's directory; it must exist and be readable."""
        text = self.values.get(var)
        if text is None or not text.strip():
            return None
        base = self.inventory.base_dir
        resolved = os.path.normpath(os.path.join(base, os.path.expanduser(text.strip())))
        if not (os.path.isfile(resolved) and os.access(resolved, os.R_OK)):
            raise self.inventory.error(self.host, var, f"invalid {var}: {resolved} is not a readable file")
        return resolved

    def ca_bundle(self, var: str) -> str | None:
        """:meth:`path` holding PEM CA certificates: a certificate exported from Windows is often
        DER (``.cer``), which no TLS channel here can load."""
        path = self.path(var)
        if path is None:
            return None
        stat = os.stat(path)
        if not is_ca_bundle(path, (stat.st_mtime_ns, stat.st_size)):
            raise self.inventory.error(
                self.host,
                var,
                f"invalid {var}: {path} is not a PEM bundle of CA certificates (a DER .cer converts "
                "with: openssl x509 -inform der -in root.cer -out root.pem)",
            )
        return path

    def text(self, var: str) -> str | None:
        value = self.values.get(var)
        return value if value else None

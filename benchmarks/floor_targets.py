"""What the floor's plain-library loops share: the lab's servers (written by ``scale.py``), a
requests adapter that reaches a server's loopback address under its own name (SNI and certificate
name check on the FQDN, as a resolver would have it), and a bounded thread pool.

Nothing here comes from the suite: the loops use pywinrm and pypsrp as their documentation shows,
so the floor is what the mandated stack costs by itself.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from requests.adapters import HTTPAdapter

from cas_conformance.channels import tls_client

T = TypeVar("T")


@dataclass(frozen=True)
class Server:
    name: str  # short name (EX0001): what -Server takes
    fqdn: str
    address: str


@dataclass(frozen=True)
class Targets:
    servers: list[Server]
    user: str
    password: str
    ca_bundle: str
    https_port: int
    winrm_https_port: int

    @classmethod
    def load(cls, path: Path) -> Targets:
        data = json.loads(path.read_text(encoding="utf-8"))
        password = os.environ.get("CAS_CONFORMANCE_PASSWORD")
        if not password:
            raise SystemExit("set CAS_CONFORMANCE_PASSWORD (the lab's password)")
        return cls(
            [Server(**s) for s in data["servers"]],
            data["user"],
            password,
            data["ca_bundle"],
            int(data["https_port"]),
            int(data["winrm_https_port"]),
        )


class NamedHostAdapter(HTTPAdapter):
    """Connects to an address but speaks TLS to *name*: SNI and the certificate's name check, with
    TLS 1.0/1.1 accepted as the suite accepts them (the lab's WinRM listener offers TLS 1.0 only,
    as Windows Server 2008 R2 does; urllib3's own default minimum is TLS 1.2)."""

    def __init__(self, name: str) -> None:
        self._name = name
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.update(
            server_hostname=self._name,
            assert_hostname=self._name,
            ssl_context=tls_client.client_context(verify=True),
        )
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def bounded(work: Callable[[T], int], items: Iterable[T], forks: int) -> int:
    """Run *work* on every item, at most *forks* at a time; the sum of what each returned."""
    listed = list(items)
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(listed)))) as pool:
        return sum(pool.map(work, listed))


def report(what: str, count: int) -> None:
    print(f"{what}: {count}", flush=True)
    sys.stdout.flush()

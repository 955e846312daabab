"""The floor's Exchange remote PowerShell loop: plain pypsrp fetching the Exchange cmdlets from the
lab's ``/PowerShell`` (Basic over HTTPS), the organisation-wide ones once, the per-server ones once
per server (``-Server <name>``), at most ``--forks`` runspace pools at a time.

    CAS_CONFORMANCE_PASSWORD=... python benchmarks/floor_psrp.py TARGETS.json --forks 256

*TARGETS.json* is what ``scale.py`` writes for a running lab. Prints how many objects came back.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from floor_targets import NamedHostAdapter, Server, Targets, bounded, report
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from cas_conformance.evidence.exchange import CERTIFICATE_PROPERTIES

ORGANISATION_WIDE = (
    "Get-ExchangeServer",
    "Get-MailboxDatabase",
    "Get-PublicFolderDatabase",
    "Get-ClientAccessArray",
    "Get-ClientAccessServer",
)
PER_SERVER = (
    "Get-OwaVirtualDirectory",
    "Get-EcpVirtualDirectory",
    "Get-WebServicesVirtualDirectory",
    "Get-ActiveSyncVirtualDirectory",
    "Get-OabVirtualDirectory",
    "Get-AutodiscoverVirtualDirectory",
    "Get-RpcClientAccess",
    "Get-OutlookAnywhere",
)


def open_pool(targets: Targets, server: Server) -> RunspacePool:
    wsman = WSMan(
        server.address,
        port=targets.https_port,
        path="PowerShell/",
        ssl=True,
        auth="basic",
        username=targets.user,
        password=targets.password,
        no_proxy=True,
    )
    transport: Any = wsman.transport
    session = transport._build_session()
    session.verify = targets.ca_bundle  # the lab's CA (pypsrp's own argument is typed bool)
    session.mount("https://", NamedHostAdapter(server.fqdn))
    transport.session = session
    pool = RunspacePool(wsman, configuration_name="Microsoft.Exchange")
    pool.open()
    return pool


def run(pool: RunspacePool, cmdlet: str, server: str | None = None, select: tuple[str, ...] = ()) -> int:
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet)
    if server is not None:
        ps.add_parameter("Server", server)
    if select:
        ps.add_cmdlet("Select-Object").add_parameter("Property", list(select))
    output = ps.invoke()
    if ps.had_errors:
        raise SystemExit(f"{cmdlet} {server or ''}: {[str(e) for e in ps.streams.error]}")
    return len(output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", type=Path)
    parser.add_argument("--forks", type=int, default=64)
    args = parser.parse_args()
    targets = Targets.load(args.targets)
    first = targets.servers[0]
    pool = open_pool(targets, first)
    try:
        objects = sum(run(pool, cmdlet) for cmdlet in ORGANISATION_WIDE)
    finally:
        pool.close()
    local = threading.local()
    pools: list[RunspacePool] = []
    lock = threading.Lock()

    def one(server: Server) -> int:
        mine = getattr(local, "pool", None)
        if mine is None:  # one runspace pool per worker, on the first server it asks about
            mine = local.pool = open_pool(targets, server)
            with lock:
                pools.append(mine)
        count = sum(run(mine, cmdlet, server.name) for cmdlet in PER_SERVER)
        return count + run(mine, "Get-ExchangeCertificate", server.name, CERTIFICATE_PROPERTIES)

    try:
        objects += bounded(one, targets.servers, args.forks)
    finally:
        for opened in pools:
            opened.close()
    report("psrp objects", objects)
    return 0


if __name__ == "__main__":
    sys.exit(main())

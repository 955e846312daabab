"""``python -m cas_conformance.lab``: serve a lab until SIGINT/SIGTERM, or list its faults."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from cas_conformance.errors import CasConformanceError
from cas_conformance.lab.embedded import start_lab
from cas_conformance.lab.scenario.faults import FAULTS, HOST_FAULTS
from cas_conformance.lab.scenario.model import DEFAULT_PASSWORD, DEFAULT_USER
from cas_conformance.lab.scenario.names import resolve_scenario, scenario_names


def _faults() -> int:
    width = max(len(name) for name in [*FAULTS, *HOST_FAULTS])
    for fault in FAULTS.values():
        must = " ".join(sorted(fault.must_fail)) or "-"
        may = " ".join(sorted(fault.may_fail))
        print(f"{fault.name:<{width}}  must fail: {must}" + (f"; may also fail: {may}" if may else ""))
        print(f"{'':<{width}}  {fault.description}")
    print()
    print("Per host (NAME@host, default host: the first Client Access server); every test of that host")
    print("errors with the reason, every other host is checked as usual:")
    for name, description in HOST_FAULTS.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    lab = start_lab(
        resolve_scenario(args.scenario, Path.cwd()),
        faults=args.fault,
        password=args.password,
        winrm_latency=args.winrm_latency,
        servers=args.servers,
        kerberos=args.kerberos,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args.inventory_out:
            out = Path(args.inventory_out)
            bundle = out.with_suffix(".ca.pem")
            bundle.write_bytes(lab.ca_bundle.read_bytes())
            out.write_text(lab.inventory_text(bundle.resolve()), encoding="utf-8")
            print(f"inventory {out} (trust bundle {bundle})")
        print(f"lab {lab.describe()}")
        account = lab.user if lab.kdc is None else f"{lab.user} ({lab.kdc.principal(DEFAULT_USER)})"
        print(f"account  {account} (password: {'given with --password' if args.password else 'the default'})")
        prefix = lab.scenario.declared.get("probe_credentials")
        if prefix:
            print(
                f"probe    test mailbox {lab.scenario.probe_mailbox}: set {prefix}_USER and {prefix}_PASSWORD "
                "(the lab account's password) for authenticated Autodiscover"
            )
        for line in lab.endpoints():
            print(line)
        print("serving until SIGINT or SIGTERM", flush=True)
        stop.wait()
    finally:
        if args.stats_out:
            Path(args.stats_out).write_text(
                json.dumps(lab.stats(), indent=1, sort_keys=True), encoding="utf-8"
            )
        lab.stop()
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m cas_conformance.lab") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="The cas-conformance lab: an Exchange 2010 organisation on loopback.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a scenario until SIGINT/SIGTERM")
    serve.add_argument(
        "scenario", help=f"a scenario by name ({', '.join(scenario_names())}) or a scenario file (.toml)"
    )
    serve.add_argument("--inventory-out", metavar="PATH", help="write an inventory that reaches the lab")
    serve.add_argument(
        "--password", default=None, help=f"the lab account's password (default: {DEFAULT_PASSWORD})"
    )
    serve.add_argument("--fault", action="append", default=[], metavar="NAME", help="switch a fault on")
    serve.add_argument(
        "--servers",
        type=int,
        default=0,
        metavar="N",
        help="simulate a generated organisation of N servers instead of the scenario's",
    )
    serve.add_argument(
        "--winrm-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="each collector run takes this long (like a busy server answering)",
    )
    serve.add_argument(
        "--kerberos",
        action="store_true",
        help="start the lab's MIT KDC and write an inventory that reaches the servers over Kerberos",
    )
    serve.add_argument("--stats-out", metavar="PATH", help="on exit, write what the lab received (JSON)")
    sub.add_parser("faults", help="list the faults and the requirement ids each must trip")
    args = parser.parse_args(argv)
    try:
        if args.command == "faults":
            return _faults()
        return _serve(args)
    except CasConformanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

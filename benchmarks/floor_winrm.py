"""The floor's WinRM loop: plain pywinrm running the same OS command on every server (NTLM over
HTTPS to each server's own address), at most ``--forks`` at a time.

    CAS_CONFORMANCE_PASSWORD=... python benchmarks/floor_winrm.py TARGETS.json --forks 256 \\
        [--command collector | --command 'hostname']

``collector`` (the default) is the command the suite runs on each server: the OS collector's
command line where the suite has one (``collector_command``), else powershell.exe with the stdin
bootstrap and the collector script on stdin. Any other value is one command line run as pywinrm's
``run_cmd`` does. Prints the bytes of output received.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from floor_targets import NamedHostAdapter, Server, Targets, bounded, report
from winrm.exceptions import WinRMOperationTimeoutError
from winrm.protocol import Protocol

from cas_conformance.channels.dialer import SESSION_BUILD_LOCK


def _command(choice: str) -> tuple[str, list[str], bytes | None]:
    if choice != "collector":
        name, *arguments = choice.split()
        return name, arguments, None
    from cas_conformance.collector import script

    if hasattr(script, "collector_command"):  # the OS collector on one command line
        program, arguments = script.collector_command(script.CollectorParameters())
        return program, list(arguments), None
    program, bootstrap = script.bootstrap_command()  # the stdin bootstrap, the script on stdin
    return program, list(bootstrap), script.collector_script(script.CollectorParameters()).encode("utf-8")


def run_one(targets: Targets, server: Server, command: tuple[str, list[str], bytes | None]) -> int:
    protocol = Protocol(
        endpoint=f"https://{server.address}:{targets.winrm_https_port}/wsman",
        transport="ntlm",
        username=targets.user,
        password=targets.password,
        server_cert_validation="validate",
        ca_trust_path=targets.ca_bundle,
        operation_timeout_sec=20,
        read_timeout_sec=30,
        proxy=None,
    )
    transport: Any = protocol.transport
    with SESSION_BUILD_LOCK:  # requests' no_proxy juggling in build_session races between threads
        session = transport.build_session()
    session.mount("https://", NamedHostAdapter(server.fqdn))
    name, arguments, stdin = command
    shell = protocol.open_shell(codepage=65001)
    try:
        command_id = protocol.run_command(shell, name, arguments)
        if stdin is not None:
            protocol.send_command_input(shell, command_id, stdin, end=True)
        received, done = 0, False
        while not done:
            try:
                out, err, _code, done = protocol.get_command_output_raw(shell, command_id)
            except WinRMOperationTimeoutError:
                continue
            received += len(out) + len(err)
        protocol.cleanup_command(shell, command_id)
    finally:
        protocol.close_shell(shell)
    return received


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", type=Path)
    parser.add_argument("--forks", type=int, default=64)
    parser.add_argument("--command", default="collector")
    args = parser.parse_args()
    targets = Targets.load(args.targets)
    command = _command(args.command)
    report("winrm bytes", bounded(lambda s: run_one(targets, s, command), targets.servers, args.forks))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a simulated server's powershell.exe prints: the collector's output for that server,
a real-looking failure for anything else."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from cas_conformance.collector.format import FORMAT_VERSION
from cas_conformance.collector.render import render_collector_output
from cas_conformance.collector.script import CollectorParameters, decode_bootstrap, parse_collector_script
from cas_conformance.lab.organisation import server_facts
from cas_conformance.lab.scenario import LabServer
from cas_conformance.lab.winrm_server import CommandRequest, CommandResult

if TYPE_CHECKING:
    from cas_conformance.lab.runtime import Lab

SNAPIN = "Microsoft.Exchange.Management.PowerShell.E2010"
ENDLESS_BYTES = 40 * 1024 * 1024  # more than any client should accept


def clixml_error(message: str) -> bytes:
    """PowerShell's stderr for an error record, as it arrives over WinRM."""
    text = message.replace("\r\n", "_x000D__x000A_").replace("\n", "_x000D__x000A_")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        f'<S S="Error">{text}_x000D__x000A_</S></Objs>'
    ).encode()


class CollectorHandler:
    """Answers the cas-conformance collector per server, from the lab's scenario."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, CollectorParameters], str] = {}
        self._by_address: dict[str, LabServer] | None = None

    def __call__(self, request: CommandRequest) -> CommandResult:
        command = request.command.lower().rsplit("\\", 1)[-1]
        if command not in ("powershell", "powershell.exe"):
            name = request.command.split()[0] if request.command.strip() else request.command
            return CommandResult(
                "",
                f"'{name}' is not recognized as an internal or external command,\r\n"
                "operable program or batch file.\r\n",
                1,
            )
        bootstrap = decode_bootstrap(" ".join(request.arguments))
        params = (
            parse_collector_script(request.stdin.decode("utf-8", errors="replace")) if bootstrap else None
        )
        if params is None:
            return CommandResult(
                "",
                clixml_error(
                    "This lab simulates Exchange servers for the cas-conformance "
                    "collector only; other PowerShell is not run."
                ),
                1,
            )
        server = self._server_for(request)
        if server is None:
            return CommandResult("", clixml_error(f"No simulated server answers at {request.host}."), 1)
        if self.lab.winrm_latency:
            # loading the Exchange snap-in takes this long on a real server (cut short by stop())
            self.lab.stopping.wait(self.lab.winrm_latency)
        if server.snapin_missing:
            return CommandResult(
                "",
                clixml_error(
                    f"Add-PSSnapin : The Windows PowerShell snap-in '{SNAPIN}' is not installed on this machine.\r\n"
                    "At line:1 char:13\r\n+ Add-PSSnapin <<<<  " + SNAPIN + "\r\n"
                    "    + CategoryInfo          : InvalidArgument: (" + SNAPIN + ":String) [Add-PSSnapin], "
                    "PSArgumentException\r\n"
                    "    + FullyQualifiedErrorId : AddPSSnapInRead,Microsoft.PowerShell.Commands.AddPSSnapinCommand"
                ),
                1,
            )
        return CommandResult(self._faulty(server.network_fault, self.output(server, params)), "", 0)

    def output(self, server: LabServer, params: CollectorParameters) -> str:
        """What the collector prints on *server* (rendered once per server and parameters: the
        scenario does not change while the lab runs)."""
        key = (server.name, params)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            facts = server_facts(self.lab.scenario, server, self.lab.published_info, params, self.lab.now)
            cached = render_collector_output(facts)
            with self._lock:
                self._cache[key] = cached
        return cached

    def _faulty(self, fault: str, output: str) -> str:
        """The output as the per-host fault spoils it (the exit code stays 0, as it would)."""
        if fault == "winrm-slow":
            self.lab.stopping.wait(600)  # a hung snap-in; released when the lab stops
        elif fault == "collector-truncated":
            return output[: len(output) * 3 // 5]
        elif fault == "collector-garbled":
            lines = output.splitlines()
            lines.insert(len(lines) // 2, "\x1b[31mthis line is not Key=Value")
            return "\n".join(lines) + "\n"
        elif fault == "collector-unknown-version":
            return output.replace(f"#CASCONF BEGIN {FORMAT_VERSION}", "#CASCONF BEGIN 7").replace(
                f"#CASCONF END {FORMAT_VERSION}", "#CASCONF END 7"
            )
        elif fault == "collector-endless":
            line = "WARNING: " + "x" * 1014 + "\n"
            return line * (ENDLESS_BYTES // len(line))
        return output

    def _server_for(self, request: CommandRequest) -> LabServer | None:
        if self._by_address is None:  # one dict for the lab's life: a lookup per command stays O(1)
            self._by_address = {self.lab.addresses[x.name.lower()]: x for x in self.lab.scenario.servers}
        return self._by_address.get(request.local_address)

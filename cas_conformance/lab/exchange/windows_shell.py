"""What a simulated server's cmd.exe and powershell.exe (Windows PowerShell 2.0) do with a WinRM
command: run the OS collector on the server's own facts, and fail as a real server fails otherwise.

Modelled on what bites real servers reached from a Linux runner:

- **The double hop.** The WinRM logon (NTLM, or Kerberos without delegation) holds no credentials
  another machine accepts. A script that loads the Exchange snap-in
  (``Add-PSSnapin Microsoft.Exchange.Management.PowerShell.E2010``) and runs an Exchange cmdlet,
  which reads Active Directory over LDAP from a domain controller, gets the snap-in's error that no
  domain controller can be reached. The wording follows the Exchange 2010 directory-access
  exception (``ADTransientException``, "Active Directory server ... is not available") [UNCONFIRMED:
  no public transcript of Exchange 2010 snap-in cmdlets failing over WinRM was found; searched
  GitHub issues and web pages for the snap-in with Invoke-Command/WinRM and "is not available",
  "ADTransientException", "Could not find any available domain controller"]; the failure itself is
  documented for SharePoint's snap-in over WinRM (Microsoft's SharePoint team blog, "PowerShell
  remoting for SharePoint", 2010: "Cannot access the local farm" until CredSSP), for the AD module
  in a remote session (EvotecIT/PSSharedGoods#31: "Unable to contact the server ... Active
  Directory Web Services") and for AD-reading modules generally (Crypt32/PSPKI#12, #171: "double
  hop ... use CredSSP authentication or mark remote machine as trusted for delegation"). A logon
  that can make the second hop (CredSSP, or Kerberos with a delegated ticket) reaches the domain
  controller: the snap-in's cmdlet then runs (``CommandRequest.delegated``).
- **PowerShell 2.0 reads redirected stdin itself** as pipeline input, so a script that reads
  ``[Console]::In.ReadToEnd()`` gets nothing (rackspace-monitoring-agent PR #403; StackStorm/st2#1695):
  here stdin is always consumed by the host and never reaches the script.
- A script the lab does not know gets PowerShell's own "not recognized" error, never collector output.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cas_conformance.lab.exchange import os_answers
from cas_conformance.lab.exchange.os_answers import ScriptParameters
from cas_conformance.lab.scenario.model import LabServer, Scenario
from cas_conformance.lab.servers.winrs import CommandRequest, CommandResult

SNAPIN = "Microsoft.Exchange.Management.PowerShell.E2010"
ENDLESS_BYTES = 40 * 1024 * 1024  # more than any client should accept
MARKER = "# cas-conformance OS collector, format 3"
_ENCODED_COMMAND_SPELLINGS = ("-encodedcommand", "-enc", "-ec", "-e")
_INFLATE = re.compile(
    r"IO\.Compression\.DeflateStream.*FromBase64String\('([A-Za-z0-9+/=]+)'\)", re.IGNORECASE | re.DOTALL
)
_PIECE = r"(?:'(?:[^']|'')*'|\[char\]0x[0-9A-F]{4})"
_STRING = rf"(?:'(?:[^']|'')*'|\({_PIECE}(?:\+{_PIECE})*\))"
_PREAMBLE = re.compile(
    rf"\$P=@\{{D=([0-9]+);K=({_STRING});S=({_STRING});M=({_STRING});I=([0-9]+);N=([0-9]+)\}}"
)
_EXCHANGE_CMDLET = re.compile(
    r"\bGet-(?:Exchange|Mailbox|ClientAccess|PublicFolder|RpcClientAccess|Owa|OutlookAnywhere)\w*"
)


def clixml_error(message: str) -> bytes:
    """PowerShell's stderr for an error record, as it arrives over WinRM."""
    text = message.replace("\r\n", "_x000D__x000A_").replace("\n", "_x000D__x000A_")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        f'<S S="Error">{text}_x000D__x000A_</S></Objs>'
    ).encode()


def _unquote(expression: str) -> str:
    body = expression[1:-1] if expression.startswith("(") else expression
    units = bytearray()  # UTF-16 code units, as PowerShell's strings hold them
    for match in re.finditer(r"'((?:[^']|'')*)'|\[char\]0x([0-9A-F]{4})", body):
        if match.group(1) is not None:
            units += match.group(1).replace("''", "'").encode("utf-16-le")
        else:
            units += int(match.group(2), 16).to_bytes(2, "little")
    return units.decode("utf-16-le", "surrogatepass")


def script_text(arguments: tuple[str, ...]) -> str | None:
    """The script powershell.exe runs for *arguments*: the ``-EncodedCommand`` text, inflated when
    it is a deflate wrapper; None when there is none (the arguments as one command line, split as
    powershell.exe splits it: base64 holds no spaces)."""
    arguments = tuple(" ".join(arguments).split())
    for index, arg in enumerate(arguments[:-1]):
        if arg.lower() not in _ENCODED_COMMAND_SPELLINGS:
            continue
        try:
            text = base64.b64decode(arguments[index + 1], validate=True).decode("utf-16-le")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        wrapped = _INFLATE.search(text)
        if wrapped:
            try:
                return zlib.decompress(base64.b64decode(wrapped.group(1)), -15).decode("utf-8")
            except (binascii.Error, zlib.error, UnicodeDecodeError):
                return None
        return text
    return None


def collector_parameters(script: str) -> ScriptParameters | None:
    """The parameters of the OS collector script, or None when *script* is something else."""
    lines = script.replace("\r\n", "\n").split("\n")
    if len(lines) < 2 or not lines[0].startswith(MARKER):
        return None
    match = _PREAMBLE.fullmatch(lines[1])
    if match is None:
        return None
    days, key, source, pattern, event_id, most = match.groups()
    return ScriptParameters(
        int(days), _unquote(key), _unquote(source), _unquote(pattern), int(event_id), int(most)
    )


def read_collector_command(arguments: tuple[str, ...]) -> ScriptParameters | None:
    """What a simulated server's powershell.exe reads from its command line *arguments*: the OS
    collector's parameters, or None when they run anything else."""
    script = script_text(arguments)
    return None if script is None else collector_parameters(script)


@dataclass(frozen=True)
class HostModel:
    """What the handler needs of the running lab."""

    scenario: Scenario
    addresses: Mapping[str, str]  # server name, lower case -> its loopback address
    now: datetime
    stopping: threading.Event
    latency: Callable[[], float]


def _not_recognized(term: str) -> bytes:
    return clixml_error(
        f"The term '{term}' is not recognized as the name of a cmdlet, function, script file, or operable program. "
        "Check the spelling of the name, or if a path was included, verify that the path is correct and try again.\r\n"
        f"At line:1 char:{1}\r\n+ {term} <<<< \r\n"
        f"    + CategoryInfo          : ObjectNotFound: ({term}:String) [], CommandNotFoundException\r\n"
        "    + FullyQualifiedErrorId : CommandNotFoundException"
    )


def double_hop_error(server: LabServer, scenario: Scenario, cmdlet: str) -> bytes:
    dc = f"dc01.{scenario.domain}"
    return clixml_error(
        f"Active Directory server {dc} is not available. Error message: Active directory response: "
        "The LDAP server is unavailable.\r\n"
        f"    + CategoryInfo          : NotSpecified: (0:Int32) [{cmdlet}], ADTransientException\r\n"
        f"    + FullyQualifiedErrorId : {server.name},Microsoft.Exchange.Management.SystemConfigurationTasks."
        f"{cmdlet.replace('-', '')}"
    )


class CollectorHandler:
    """Answers WinRM commands per server, from the lab's scenario."""

    def __init__(self, host: HostModel) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, ScriptParameters], str] = {}
        # one dict for the lab's life: a lookup per command stays O(1)
        self._by_address = {host.addresses[x.name.lower()]: x for x in host.scenario.servers}

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
        server = self._server_for(request)
        if server is None:
            return CommandResult("", clixml_error(f"No simulated server answers at {request.host}."), 1)
        # stdin is the host's pipeline input: whatever was sent never reaches the script
        script = script_text(request.arguments)
        if script is None:
            return CommandResult("", b"", 0)  # no command: the host read its input and exited
        if "[console]::in" in script.lower():
            # a bootstrap that reads its script from stdin: the host consumed it, nothing runs
            return CommandResult("", b"", 0)
        called = _EXCHANGE_CMDLET.search(script)
        if SNAPIN.lower() in script.lower() and called is not None:
            if not request.delegated:
                return CommandResult("", double_hop_error(server, self.host.scenario, called.group(0)), 1)
            return CommandResult(self._snapin_answer(called.group(0)), "", 0)
        params = collector_parameters(script)
        if params is None:
            first = script.strip().split(None, 1)[0] if script.strip() else "?"
            return CommandResult("", _not_recognized(first[:80]), 1)
        latency = self.host.latency()
        if latency:
            self.host.stopping.wait(latency)  # a busy server (cut short by stop())
        return CommandResult(self._faulty(server.network_fault, self.output(server, params)), "", 0)

    def _snapin_answer(self, cmdlet: str) -> str:
        """A delegated logon reaches the domain controller, so the snap-in's cmdlet runs. The lab
        models the second hop, not the snap-in's formatting: Get-ExchangeServer names the
        organisation's servers (one per line), other cmdlets print nothing."""
        if cmdlet.lower() != "get-exchangeserver":
            return ""
        return "".join(f"{x.name}\r\n" for x in self.host.scenario.servers)

    def output(self, server: LabServer, params: ScriptParameters) -> str:
        """What the collector prints on *server* (once per server and parameters)."""
        key = (server.name, params)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = os_answers.render(server, params, self.host.now)
            with self._lock:
                self._cache[key] = cached
        return cached

    def _faulty(self, fault: str, output: str) -> str:
        """The output as the per-host fault spoils it (the exit code stays 0, as it would)."""
        if fault == "winrm-slow":
            self.host.stopping.wait(600)  # a hung collector; released when the lab stops
        elif fault == "collector-truncated":
            return output[: len(output) * 3 // 5]
        elif fault == "collector-garbled":
            lines = output.splitlines()
            lines.insert(len(lines) // 2, "\x1b[31mthis line is not Key=Value")
            return "\n".join(lines) + "\n"
        elif fault == "collector-unknown-version":
            version = os_answers.FORMAT
            return output.replace(f"#CASCONF BEGIN {version}", "#CASCONF BEGIN 7").replace(
                f"#CASCONF END {version}", "#CASCONF END 7"
            )
        elif fault == "collector-endless":
            line = "WARNING: " + "x" * 1014 + "\n"
            return line * (ENDLESS_BYTES // len(line))
        return output

    def _server_for(self, request: CommandRequest) -> LabServer | None:
        return self._by_address.get(request.local_address)

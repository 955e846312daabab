"""The OS collector as it is sent: one ``powershell.exe -EncodedCommand`` under cmd.exe's 8,191
characters, with nothing on stdin.

collect.ps1 reads only this server's OS facts (registry values, the MSExchangeRPC service, a
performance counter category, Event 106, the WinHTTP proxy): no Exchange snap-in and nothing that
authenticates to another machine (the snap-in's cmdlets read Active Directory as the WinRM logon,
which cannot authenticate onward: Microsoft's SharePoint team shows the same double hop failing for
a product snap-in in a WinRM session, blogs.msdn.microsoft.com/besidethepoint/2010/05/26/
powershell-remoting-for-sharepoint/; loading the Exchange 2010 snap-in directly is unsupported,
https://blog.rmilne.ca/2015/01/28/directly-loading-exchange-2010-or-2013-snapin-is-not-supported/). Its text, a marker line, a one-line
``$P = @{...}`` parameter preamble and the body, is deflated and base64-encoded inside a one-line
wrapper that inflates and runs it (``System.IO.Compression.DeflateStream``, .NET 2.0), and the
wrapper goes on the command line as ``-EncodedCommand`` (base64 of UTF-16LE). Nothing is staged on
stdin: PowerShell 2.0's console host reads redirected stdin itself as pipeline input, so a script
read from ``[Console]::In`` may get nothing (rackspace-monitoring-agent PR #403, StackStorm/st2#1695).

Strings in the preamble are PowerShell single-quoted literals and anything outside printable ASCII
is spelled ``[char]0xXXXX`` (PowerShell also ends single-quoted strings at the typographic quotes
U+2018..U+201B), so no value can end a literal early.
"""

from __future__ import annotations

import base64
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from cas_conformance.domain.event106 import RPC_CLIENT_ACCESS_106_PATTERN

SCRIPT_MARKER = (
    "# cas-conformance OS collector, format 3 (docs/collector-format.md). Read-only, PowerShell 2.0."
)
DEFAULT_POLLING_REGISTRY_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem"
# What Test-Path -LiteralPath reads as a registry key: a drive (HKLM:\...) or a provider path.
_REGISTRY_PATH = re.compile(r"(?:HK[A-Z_]+:|Registry::HKEY_[A-Z_]+)\\.+", re.IGNORECASE | re.DOTALL)
POWERSHELL = "powershell.exe"
FLAGS = ("-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")
#: cmd.exe's longest command line (characters); WinRM runs commands through cmd.exe
CMD_LINE_LIMIT = 8191
#: inflates the deflated script ({payload}: its base64) and runs it in this scope
WRAPPER = (
    "iex((New-Object IO.StreamReader((New-Object IO.Compression.DeflateStream((New-Object IO.MemoryStream("
    ",[Convert]::FromBase64String('{payload}'))),'Decompress')))).ReadToEnd())"
)
# PowerShell hashtable key -> CollectorParameters field, in preamble order.
_KEYS = (
    ("D", "event_lookback_days"),
    ("K", "polling_registry_key"),
    ("S", "event_source"),
    ("M", "event_message_pattern"),
    ("I", "event_id"),
    ("N", "max_events"),
)


@dataclass(frozen=True)
class CollectorParameters:
    """What the inventory can tune in one collector run (docs/variables.md: ``eventlog_lookback_days``,
    ``polling_registry_key``)."""

    event_lookback_days: int = 7
    polling_registry_key: str = DEFAULT_POLLING_REGISTRY_KEY
    event_source: str = "MSExchange Common"
    event_message_pattern: str = RPC_CLIENT_ACCESS_106_PATTERN
    #: The displayed event id (low 16 bits of InstanceId) to report.
    event_id: int = 106
    #: At most this many matching events (newest first) are reported; presence is what matters.
    max_events: int = 50

    def __post_init__(self) -> None:
        for name, low, high in (
            ("event_lookback_days", 1, 3650),
            ("event_id", 0, 65535),
            ("max_events", 1, 10000),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")
        for name in ("polling_registry_key", "event_source", "event_message_pattern"):
            if not isinstance(getattr(self, name), str) or getattr(self, name) == "":
                raise ValueError(f"{name} must be a non-empty string")
        if not _REGISTRY_PATH.fullmatch(self.polling_registry_key):
            raise ValueError(
                f"polling_registry_key must be a PowerShell registry path such as "
                f"{DEFAULT_POLLING_REGISTRY_KEY}, not {self.polling_registry_key!r}"
            )


def quote_powershell(value: str) -> str:
    """A PowerShell 2.0 expression for *value* made of printable ASCII only."""
    pieces: list[str] = []
    literal: list[str] = []
    for char in value:
        if " " <= char <= "~":
            literal.append("''" if char == "'" else char)
            continue
        if literal:
            pieces.append("'" + "".join(literal) + "'")
            literal = []
        units = char.encode("utf-16-le", "surrogatepass")
        for i in range(0, len(units), 2):
            pieces.append(f"[char]0x{int.from_bytes(units[i : i + 2], 'little'):04X}")
    if literal or not pieces:
        pieces.append("'" + "".join(literal) + "'")
    if len(pieces) == 1 and pieces[0].startswith("'"):
        return pieces[0]
    if not pieces[0].startswith("'"):
        pieces.insert(0, "''")  # so '+' concatenates strings instead of adding chars
    return "(" + "+".join(pieces) + ")"


@lru_cache(maxsize=1)
def collector_body() -> str:
    """The text of collect.ps1 as shipped in the package (its first line is the marker)."""
    text = resources.files("cas_conformance.collector").joinpath("collect.ps1").read_text("ascii")
    return text.replace("\r\n", "\n").split("\n", 1)[1]


def _preamble(params: CollectorParameters) -> str:
    parts = []
    for key, attr in _KEYS:
        value = getattr(params, attr)
        parts.append(f"{key}={value if isinstance(value, int) else quote_powershell(value)}")
    return "$P=@{" + ";".join(parts) + "}"


def collector_script(params: CollectorParameters | None = None) -> str:
    """The whole script: marker line, parameter preamble, collect.ps1's body (ASCII)."""
    params = params if params is not None else CollectorParameters()
    return f"{SCRIPT_MARKER}\n{_preamble(params)}\n{collector_body()}"


def encoded_command(script: str) -> str:
    """``-EncodedCommand``'s argument for *script*: the wrapper around its deflated text."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, what DeflateStream reads
    payload = base64.b64encode(deflate.compress(script.encode("ascii")) + deflate.flush()).decode("ascii")
    return base64.b64encode(WRAPPER.format(payload=payload).encode("utf-16-le")).decode("ascii")


def collector_command(params: CollectorParameters | None = None) -> tuple[str, tuple[str, ...]]:
    """``(program, arguments)`` that run the collector; ValueError if the line would be too long."""
    arguments = (*FLAGS, "-EncodedCommand", encoded_command(collector_script(params)))
    length = len(" ".join((POWERSHELL, *arguments)))
    if length > CMD_LINE_LIMIT:
        raise ValueError(
            f"the collector's command line has {length} characters, more than cmd.exe's {CMD_LINE_LIMIT}"
        )
    return POWERSHELL, arguments

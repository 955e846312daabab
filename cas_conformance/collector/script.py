"""Building the collector script that is sent to a server, and the bootstrap that runs it.

collect.ps1 is far larger than a cmd.exe command line allows (8,191 characters; pywinrm's run_ps
puts the whole base64 script there), so the command line carries only a small bootstrap that reads
the real script from stdin and runs it as one script block. The parameters travel as a one-line
``$CasConf = @{...}`` preamble before collect.ps1; strings are PowerShell single-quoted literals and
anything outside printable ASCII is spelled ``[char]0xXXXX``, so the script stays ASCII (whatever
code page the shell's stdin is decoded with; ours is opened with 65001) and no value can end a literal early (PowerShell also ends
single-quoted strings at the typographic quotes U+2018..U+201B, which are non-ASCII here).

The lab reads both back (decode_bootstrap, parse_collector_script) to answer as a real server.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from cas_conformance.collector.event106 import RPC_CLIENT_ACCESS_106_PATTERN
from cas_conformance.errors import CasConformanceError

SCRIPT_MARKER = "# cas-conformance collector format 2"
DEFAULT_POLLING_REGISTRY_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem"
# What Test-Path -LiteralPath reads as a registry key: a drive (HKLM:\...) or a provider path.
_REGISTRY_PATH = re.compile(r"(?:HK[A-Z_]+:|Registry::HKEY_[A-Z_]+)\\.+", re.IGNORECASE | re.DOTALL)
POWERSHELL = "powershell.exe"
BOOTSTRAP_SCRIPT = (
    "$ErrorActionPreference='Stop';$s=[Console]::In.ReadToEnd();"
    "try{& ([ScriptBlock]::Create($s))}"
    "catch{[Console]::Error.WriteLine('cas-conformance collector failed: '+$_);exit 1};"
    "exit $LASTEXITCODE"
)
_FLAGS = ("-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")
# powershell.exe accepts unambiguous prefixes of its parameters; these are the common spellings.
_ENCODED_COMMAND_SPELLINGS = ("-encodedcommand", "-enc", "-ec", "-e")
# PowerShell hashtable key -> CollectorParameters field, in preamble order.
_KEYS = (
    ("EventLookbackDays", "event_lookback_days"),
    ("PollingRegistryKey", "polling_registry_key"),
    ("EventSource", "event_source"),
    ("EventMessagePattern", "event_message_pattern"),
    ("EventId", "event_id"),
    ("MaxEvents", "max_events"),
)
_LITERAL = r"'(?:[^']|'')*'"
_PIECE_EXPR = rf"(?:{_LITERAL}|\[char\]0x[0-9A-F]{{4}})"
_STRING_EXPR = rf"{_LITERAL}|\({_PIECE_EXPR}(?:\+{_PIECE_EXPR})*\)"
_VALUE = rf"(?:[0-9]+|{_STRING_EXPR})"
_PREAMBLE = re.compile(
    r"\$CasConf = @\{ " + "; ".join(rf"{key} = ({_VALUE})" for key, _ in _KEYS) + r" \}", re.ASCII
)
_PIECE = re.compile(r"'((?:[^']|'')*)'|\[char\]0x([0-9A-F]{4})", re.ASCII)


class CollectorScriptError(CasConformanceError):
    """Text that starts like our collector script but is not one this version builds."""


@dataclass(frozen=True)
class CollectorParameters:
    """What the inventory can tune in one collector run (REQUIREMENTS.md inventory variables)."""

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


def unquote_powershell(expression: str) -> str:
    """Invert :func:`quote_powershell` (only its own output is accepted)."""
    body = expression[1:-1] if expression.startswith("(") else expression
    units = bytearray()
    position = 0
    for match in _PIECE.finditer(body):
        if match.start() != position:
            raise CollectorScriptError(f"not a quoted PowerShell string: {expression[:60]!r}")
        if match.group(1) is not None:
            units += match.group(1).replace("''", "'").encode("utf-16-le")
        else:
            units += int(match.group(2), 16).to_bytes(2, "little")
        position = match.end() + (1 if body[match.end() : match.end() + 1] == "+" else 0)
    if position != len(body):
        raise CollectorScriptError(f"not a quoted PowerShell string: {expression[:60]!r}")
    return units.decode("utf-16-le", "surrogatepass")


@lru_cache(maxsize=1)
def collector_body() -> str:
    """The text of collect.ps1 as shipped in the package."""
    return resources.files("cas_conformance.collector").joinpath("collect.ps1").read_text("ascii")


def _preamble(params: CollectorParameters) -> str:
    parts = []
    for key, attr in _KEYS:
        value = getattr(params, attr)
        parts.append(f"{key} = {value if isinstance(value, int) else quote_powershell(value)}")
    return "$CasConf = @{ " + "; ".join(parts) + " }"


def collector_script(params: CollectorParameters | None = None) -> str:
    """The whole script to send on stdin: marker line, parameter preamble, collect.ps1 (ASCII)."""
    params = params if params is not None else CollectorParameters()
    return f"{SCRIPT_MARKER}\n{_preamble(params)}\n{collector_body()}"


def parse_collector_script(text: str) -> CollectorParameters | None:
    """The parameters of a script collector_script built; None when *text* is not our script.

    Raises CollectorScriptError when the first line is our marker but the rest is not exactly what
    this version builds (a different collect.ps1, an edited preamble)."""
    text = text.replace("\r\n", "\n")
    first, _, rest = text.partition("\n")
    if first != SCRIPT_MARKER:
        return None
    preamble = _PREAMBLE.fullmatch(rest.partition("\n")[0])
    if preamble is None:
        raise CollectorScriptError("the line after the marker is not a $CasConf preamble this version writes")
    values: dict[str, int | str] = {}
    for (_, attr), raw in zip(_KEYS, preamble.groups(), strict=True):
        values[attr] = int(raw) if raw[0].isdigit() else unquote_powershell(raw)
    try:
        params = CollectorParameters(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise CollectorScriptError(f"collector parameters out of range: {exc}") from None
    if collector_script(params) != text:
        raise CollectorScriptError("the script is not the collect.ps1 of this version")
    return params


def bootstrap_command() -> tuple[str, tuple[str, ...]]:
    """``(program, arguments)`` that run the bootstrap; the script then goes to its stdin."""
    encoded = base64.b64encode(BOOTSTRAP_SCRIPT.encode("utf-16-le")).decode("ascii")
    return POWERSHELL, (*_FLAGS, "-EncodedCommand", encoded)


def decode_bootstrap(arguments: Sequence[str] | str) -> str | None:
    """The bootstrap text if *arguments* (a list, or one command-line string) run our bootstrap."""
    args = arguments.split() if isinstance(arguments, str) else list(arguments)
    for index, arg in enumerate(args[:-1]):
        if arg.lower() not in _ENCODED_COMMAND_SPELLINGS:
            continue
        try:
            decoded = base64.b64decode(args[index + 1], validate=True).decode("utf-16-le")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded if decoded == BOOTSTRAP_SCRIPT else None
    return None

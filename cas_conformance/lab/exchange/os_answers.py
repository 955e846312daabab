"""What a simulated Windows server holds that the OS collector reads, in Windows' own terms, and the
text the collector script would print for it.

A server is described as Windows describes it: registry values (key, name, kind, value), services
(state, start mode), performance counter categories, Application-log events, the WinHTTP proxy as
``netsh winhttp set proxy`` leaves it in the ``WinHttpSettings`` value. :func:`render` prints what
collect.ps1 prints for them, written from docs/collector-format.md (format 3) and nothing of the
product's code: the suite's parser has to read it as it would read a real server's.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cas_conformance.lab.scenario.model import LabServer

FORMAT = 3
RPC_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem"
COUNTER_CATEGORY = "MSExchange RpcClientAccess"
# the WinHttpSettings value: version 0x18 with no proxy ever set, 0x28 once netsh set one
_DIRECT = 0x1
_PROXY = 0x2


@dataclass(frozen=True)
class ScriptParameters:
    """What the collector's ``$P = @{...}`` preamble asks for (read by :mod:`~cas_conformance.lab.exchange.windows_shell`)."""

    lookback_days: int
    polling_key: str
    event_source: str
    message_pattern: str
    event_id: int
    max_events: int


@dataclass(frozen=True)
class RegistryValue:
    key: str
    name: str
    kind: str  # RegistryValueKind: DWord, String, ...
    value: str  # as the collector prints it (DWord: unsigned decimal)


@dataclass(frozen=True)
class Event:
    event_id: int
    source: str
    created: datetime
    message: str


_106 = (
    "Performance counter updating error. Counter name is {counter}, category name is {category}. "
    "Optional code: 3. Exception: The exception thrown is : System.InvalidOperationException: The "
    "requested Performance Counter is not a custom counter, it has to be initialized as ReadOnly.\r\n"
    "   at System.Diagnostics.PerformanceCounter.Initialize()\r\n"
    "Last worker process info : System.ArgumentException: Process with an Id of 4711 is not running.\r\n"
    "Processes running while Performance counter failed to update: \r\n"
    "2148 Microsoft.Exchange.RpcClientAccess.Service.exe\r\n1432 Microsoft.Exchange.ServiceHost.exe\r\n"
    "1388 MSExchangeMailboxAssistants.exe\r\n1216 store.exe\r\n"
)


def registry(server: LabServer) -> list[RegistryValue]:
    """The values under the MSExchangeRPC service's ParametersSystem key."""
    values = []
    if server.push_notifications:
        values.append(RegistryValue(RPC_KEY, "EnablePushNotifications", "DWord", "1"))
    if server.polling_ms is not None:
        values.append(RegistryValue(RPC_KEY, "Maximum Polling Frequency", "DWord", str(server.polling_ms)))
    return values


def application_log(server: LabServer, now: datetime) -> list[Event]:
    """Event 106 entries in the Application log, newest first."""
    events = []
    if server.event_106:
        message = _106.format(counter="RPC Requests", category=COUNTER_CATEGORY)
        events.append(Event(106, "MSExchange Common", now - timedelta(hours=2), message))
    if server.other_event_106:
        message = _106.format(counter="LDAP Read Time", category="MSExchange ADAccess Processes")
        events.append(Event(106, "MSExchange Common", now - timedelta(hours=3), message))
    return events


def winhttp_value(server: LabServer) -> bytes:
    """``WinHttpSettings`` as ``netsh winhttp set proxy`` (or nothing, or a reset) leaves it."""
    if server.winhttp_proxy:
        return _winhttp(server.winhttp_proxy, server.winhttp_bypass, _DIRECT | _PROXY)
    if server.winhttp_stale_proxy:  # netsh winhttp reset proxy keeps the old string, direct flags
        return _winhttp(server.winhttp_stale_proxy, server.winhttp_bypass, _DIRECT)
    return struct.pack("<iiIii", 0x18, 0, _DIRECT, 0, 0)


def _winhttp(proxy: str, bypass: Sequence[str], flags: int) -> bytes:
    proxy_bytes, bypass_bytes = proxy.encode("ascii"), ";".join(bypass).encode("ascii")
    return (
        struct.pack("<iiIi", 0x28, 0, flags, len(proxy_bytes))
        + proxy_bytes
        + struct.pack("<i", len(bypass_bytes))
        + bypass_bytes
    )


def netsh_show_proxy(server: LabServer) -> str:
    if server.winhttp_proxy:
        bypass = ";".join(server.winhttp_bypass) or "(none)"
        return (
            "Current WinHTTP proxy settings:\r\n\r\n"
            f"    Proxy Server(s) :  {server.winhttp_proxy}\r\n    Bypass List     :  {bypass}\r\n"
        )
    return "Current WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server).\r\n"


# --- the collector's output, format 3 (docs/collector-format.md) ---------------------------------


def _text(value: str) -> str:
    out = []
    for byte in value.encode("utf-8"):
        out.append(chr(byte) if 0x20 <= byte <= 0x7E and byte not in (0x25, 0x3B, 0x3D) else f"%{byte:02X}")
    return "".join(out)


def _bool(value: bool) -> str:
    return "True" if value else "False"


def _date(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(server: LabServer, params: ScriptParameters, now: datetime) -> str:
    """What collect.ps1 prints on *server* for *params*."""
    records: list[list[tuple[str, str]]] = []
    names: list[str] = []

    def add(section: str, *pairs: tuple[str, str]) -> None:
        names.append(section)
        records.append(list(pairs))

    add(
        "meta",
        ("FormatVersion", str(FORMAT)),
        ("ComputerName", _text(server.name)),
        ("PSVersion", "2.0"),
        ("CollectedAt", _date(now)),
        ("Culture", "en-US"),
    )
    stored = {(v.key.lower(), v.name.lower()): v for v in registry(server)}
    for key, name in (
        (RPC_KEY, "EnablePushNotifications"),
        (params.polling_key, "Maximum Polling Frequency"),
    ):
        found = stored.get((key.lower(), name.lower()))
        add(
            "registry",
            ("Key", _text(key)),
            ("Name", _text(name)),
            ("Present", _bool(found is not None)),
            ("Value", _text(found.value if found else "")),
            ("Kind", _text(found.kind if found else "")),
        )
    add(
        "service",
        ("Name", "MSExchangeRPC"),
        ("Present", "True"),
        ("State", _text(server.rpc_service_state)),
        ("StartMode", _text(server.rpc_service_start_mode)),
    )
    add("perfcounter", ("CategoryName", COUNTER_CATEGORY), ("Exists", _bool(server.has_rpc_counters)))
    pattern = re.compile(params.message_pattern, re.IGNORECASE)
    since = now - timedelta(days=params.lookback_days)
    matching = [
        e
        for e in application_log(server, now)
        if e.event_id == params.event_id
        and e.source == params.event_source
        and e.created >= since
        and pattern.search(e.message)
    ]
    for event in matching[: params.max_events]:
        add(
            "event",
            ("EventId", str(event.event_id)),
            ("Source", _text(event.source)),
            ("TimeGenerated", _date(event.created)),
            ("Message", _text(event.message)),
        )
    add(
        "winhttp",
        ("RegistryHex", winhttp_value(server).hex()),
        ("NetshText", _text(netsh_show_proxy(server).replace("\r\n", "\n").strip())),
    )
    lines = [f"#CASCONF BEGIN {FORMAT}"]
    for section, pairs in zip(names, records, strict=True):
        lines.append(f"[{section}]")
        lines.extend(f"{k}={v}" for k, v in pairs)
    lines.append(f"#CASCONF END {FORMAT} records={len(records)}")
    return "\n".join(lines) + "\n"

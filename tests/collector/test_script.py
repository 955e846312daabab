"""The command sent to a server: one powershell.exe -EncodedCommand under cmd.exe's limit that
carries the whole OS collector (deflated), nothing on stdin; the lab reads it back the way
powershell.exe would."""

from __future__ import annotations

import base64
import dataclasses
import re
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cas_conformance.collector.script import (
    CMD_LINE_LIMIT,
    DEFAULT_POLLING_REGISTRY_KEY,
    SCRIPT_MARKER,
    CollectorParameters,
    collector_body,
    collector_command,
    collector_script,
    quote_powershell,
)
from cas_conformance.lab import read_collector_command

HOSTILE = [
    "it's",
    "''",
    "'; Remove-Item C:\\ -Recurse; '",
    "\u2018smart\u2019 \u201aquotes\u201b",
    "$(Get-Date) `n $env:PATH @{}",
    "line1\nline2\r\n",
    "Leistungsindikator \u00e4\u00f6\u00fc \u00df \U0001f600",
    "\x00",
    "#comment",
    "",
]


def _unquote(expression: str) -> str:
    """The value PowerShell reads from *expression* (only quote_powershell's output)."""
    body = expression[1:-1] if expression.startswith("(") else expression
    pieces = re.findall(r"'((?:[^']|'')*)'|\[char\]0x([0-9A-F]{4})", body)
    units = b"".join(
        text.replace("''", "'").encode("utf-16-le") if not code else int(code, 16).to_bytes(2, "little")
        for text, code in pieces
    )
    return units.decode("utf-16-le", "surrogatepass")


def test_one_encoded_command_under_the_cmd_limit() -> None:
    program, arguments = collector_command()
    assert program == "powershell.exe"
    assert arguments[:-1] == (
        "-NoLogo",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-EncodedCommand",
    )
    assert len(" ".join((program, *arguments))) < CMD_LINE_LIMIT == 8191
    wrapper = base64.b64decode(arguments[-1]).decode("utf-16-le")
    assert "[Console]::In" not in wrapper and "ReadToEnd()" in wrapper and "DeflateStream" in wrapper
    payload = re.search(r"FromBase64String\('([^']+)'\)", wrapper)
    assert payload is not None
    assert zlib.decompress(base64.b64decode(payload.group(1)), -15).decode("ascii") == collector_script()


def test_a_command_line_too_long_is_refused_before_sending() -> None:
    long_pattern = CollectorParameters(event_message_pattern="".join(f"x{i}" for i in range(4000)))
    with pytest.raises(ValueError, match=r"more than cmd\.exe's 8191"):
        collector_command(long_pattern)


def test_the_script_is_marker_preamble_and_collect_ps1() -> None:
    script = collector_script(CollectorParameters(event_lookback_days=3))
    marker, preamble, body = script.split("\n", 2)
    assert marker == SCRIPT_MARKER and body == collector_body()
    assert preamble.startswith("$P=@{D=3;K='HKLM:\\SYSTEM")
    assert "Add-PSSnapin" not in script and "Get-ExchangeServer" not in script


@pytest.mark.parametrize("value", [h for h in HOSTILE if h])
def test_hostile_parameter_values_stay_inside_their_literal(value: str) -> None:
    expression = quote_powershell(value)
    assert expression.isascii()
    assert "\n" not in expression and "\r" not in expression
    # Every quote is either a delimiter of a piece or doubled inside it: removing the pieces
    # leaves only the concatenation syntax.
    skeleton = re.sub(r"'(?:[^']|'')*'|\[char\]0x[0-9A-F]{4}", "X", expression)
    assert re.fullmatch(r"X|\(X(\+X)*\)", skeleton), expression
    assert _unquote(expression) == value


def test_quoting_spells_non_ascii_as_char_codes() -> None:
    assert quote_powershell("it's") == "'it''s'"
    assert quote_powershell("") == "''"
    assert quote_powershell("\u00e4b") == "(''+[char]0x00E4+'b')"
    assert quote_powershell("a\u2019") == "('a'+[char]0x2019)"
    assert quote_powershell("\U0001f600") == "(''+[char]0xD83D+[char]0xDE00)"


@settings(max_examples=50, deadline=None)  # a wall-clock deadline flakes on a loaded machine
@given(
    st.integers(min_value=1, max_value=3650),
    st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30)).map(lambda t: "HKLM:\\" + (t or "x")),
    st.one_of(st.sampled_from([h for h in HOSTILE if h]), st.text(min_size=1, max_size=30)),
    st.integers(min_value=0, max_value=65535),
)
def test_the_lab_reads_the_parameters_as_powershell_would(
    days: int, key: str, source: str, event_id: int
) -> None:
    params = CollectorParameters(
        event_lookback_days=days, polling_registry_key=key, event_source=source, event_id=event_id
    )
    try:
        arguments = collector_command(params)[1]
    except ValueError as exc:  # values that spell long (non-ASCII as [char] codes) may not fit: said so
        assert "more than cmd.exe's 8191" in str(exc)
        return
    read = read_collector_command(arguments)
    assert read is not None
    assert (read.lookback_days, read.polling_key, read.event_source, read.event_id) == (
        days,
        key,
        source,
        event_id,
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"event_lookback_days": 0}, "event_lookback_days"),
        ({"event_lookback_days": True}, "event_lookback_days"),
        ({"event_id": 70000}, "event_id"),
        ({"max_events": 0}, "max_events"),
        ({"event_source": ""}, "event_source"),
        ({"polling_registry_key": "HKLM\\SYSTEM\\x"}, "PowerShell registry path"),
        ({"polling_registry_key": "SYSTEM\\x"}, "PowerShell registry path"),
    ],
)
def test_parameters_are_validated(change: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        dataclasses.replace(CollectorParameters(), **change)  # type: ignore[arg-type]


def test_registry_paths_powershell_reads_are_accepted() -> None:
    assert CollectorParameters().polling_registry_key == DEFAULT_POLLING_REGISTRY_KEY
    for key in ("hklm:\\SOFTWARE\\Policies\\X", "Registry::HKEY_LOCAL_MACHINE\\SYSTEM\\X"):
        assert CollectorParameters(polling_registry_key=key).polling_registry_key == key

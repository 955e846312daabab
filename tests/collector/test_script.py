"""The script sent to a server: the bootstrap command line, the parameter preamble and reading both
back as the lab does."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cas_conformance.collector.script import (
    BOOTSTRAP_SCRIPT,
    DEFAULT_POLLING_REGISTRY_KEY,
    SCRIPT_MARKER,
    CollectorParameters,
    CollectorScriptError,
    bootstrap_command,
    collector_body,
    collector_script,
    decode_bootstrap,
    parse_collector_script,
    quote_powershell,
    unquote_powershell,
)

CMD_LIMIT = 8191
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


def test_bootstrap_command_line_is_far_below_the_cmd_limit() -> None:
    program, arguments = bootstrap_command()
    assert program == "powershell.exe"
    assert arguments[:-1] == (
        "-NoLogo",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-EncodedCommand",
    )
    command_line = " ".join((program, *arguments))
    assert len(command_line) < 1000 < CMD_LIMIT
    assert base64.b64decode(arguments[-1]).decode("utf-16-le") == BOOTSTRAP_SCRIPT


def test_bootstrap_reads_stdin_and_propagates_the_exit_code() -> None:
    assert "[Console]::In.ReadToEnd()" in BOOTSTRAP_SCRIPT
    assert "[ScriptBlock]::Create(" in BOOTSTRAP_SCRIPT
    assert BOOTSTRAP_SCRIPT.endswith("exit $LASTEXITCODE")
    assert "exit 1" in BOOTSTRAP_SCRIPT  # a script that throws is a failure, not an empty success
    assert BOOTSTRAP_SCRIPT.isascii()


def test_decode_bootstrap_recognises_only_our_bootstrap() -> None:
    program, arguments = bootstrap_command()
    assert decode_bootstrap(arguments) == BOOTSTRAP_SCRIPT
    assert decode_bootstrap(" ".join((program, *arguments))) == BOOTSTRAP_SCRIPT
    short = ["-NoProfile", "-enc", arguments[-1]]
    assert decode_bootstrap(short) == BOOTSTRAP_SCRIPT
    other = base64.b64encode("Get-Date".encode("utf-16-le")).decode()
    assert decode_bootstrap(["-EncodedCommand", other]) is None
    assert decode_bootstrap(["-EncodedCommand", "not base64!"]) is None
    assert decode_bootstrap(["-EncodedCommand"]) is None
    assert decode_bootstrap(["-Command", "Get-Date"]) is None


def test_the_script_is_marker_preamble_and_collect_ps1() -> None:
    text = collector_script(CollectorParameters())
    first, second, body = text.split("\n", 2)
    assert first == SCRIPT_MARKER == "# cas-conformance collector format 2"
    assert second == (
        "$CasConf = @{ EventLookbackDays = 7; PollingRegistryKey = "
        "'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem'; "
        "EventSource = 'MSExchange Common'; "
        "EventMessagePattern = '(?<![\\w.])MSExchange RpcClientAccess(?! Per Server)(?![\\w])'; "
        "EventId = 106; MaxEvents = 50 }"
    )
    assert body == collector_body()
    assert text.isascii()
    assert parse_collector_script(text) == CollectorParameters()


@pytest.mark.parametrize("value", [h for h in HOSTILE if h])
def test_hostile_parameter_values_stay_inside_their_literal(value: str) -> None:
    expression = quote_powershell(value)
    assert expression.isascii()
    assert "\n" not in expression and "\r" not in expression
    # Every quote is either a delimiter of a piece or doubled inside it: removing the pieces
    # leaves only the concatenation syntax.
    skeleton = re.sub(r"'(?:[^']|'')*'|\[char\]0x[0-9A-F]{4}", "X", expression)
    assert re.fullmatch(r"X|\(X(\+X)*\)", skeleton), expression
    assert unquote_powershell(expression) == value


def test_quoting_spells_non_ascii_as_char_codes() -> None:
    assert quote_powershell("it's") == "'it''s'"
    assert quote_powershell("") == "''"
    assert quote_powershell("\u00e4b") == "(''+[char]0x00E4+'b')"
    assert quote_powershell("a\u2019") == "('a'+[char]0x2019)"
    assert quote_powershell("\U0001f600") == "(''+[char]0xD83D+[char]0xDE00)"


@given(
    st.integers(min_value=1, max_value=3650),
    st.one_of(st.sampled_from(HOSTILE), st.text()).map(lambda t: "HKLM:\\" + (t or "x")),
    st.one_of(st.sampled_from([h for h in HOSTILE if h]), st.text(min_size=1)),
    st.one_of(st.sampled_from([h for h in HOSTILE if h]), st.text(min_size=1)),
    st.integers(min_value=0, max_value=65535),
    st.integers(min_value=1, max_value=10000),
)
def test_parse_collector_script_round_trip(
    days: int, key: str, source: str, pattern: str, event_id: int, max_events: int
) -> None:
    params = CollectorParameters(days, key, source, pattern, event_id, max_events)
    text = collector_script(params)
    assert text.isascii()
    assert parse_collector_script(text) == params
    assert parse_collector_script(text.replace("\n", "\r\n")) == params


def test_other_text_is_not_our_script() -> None:
    assert parse_collector_script("Get-Date") is None
    assert parse_collector_script("") is None
    assert parse_collector_script(collector_body()) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("EventId = 106", "EventId = 107; Extra = 1"),
        lambda t: t.replace("EventLookbackDays = 7", "EventLookbackDays = 0"),
        lambda t: t.replace("'MSExchange Common'", '"MSExchange Common"'),
        lambda t: t.replace("exit 0", "Remove-Item C:\\ -Recurse; exit 0"),
        lambda t: t.replace("EventId = 106", "EventId = 0106"),
    ],
)
def test_a_tampered_script_with_our_marker_is_refused(tamper: object) -> None:
    text = tamper(collector_script(CollectorParameters()))  # type: ignore[operator]
    assert text != collector_script(CollectorParameters())
    with pytest.raises(CollectorScriptError):
        parse_collector_script(text)


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

"""The format's strictness: every way output can be wrong is a CollectorFormatError with the
server, section and line; escaping is exact; arbitrary text never escapes as another exception."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cas_conformance.collector.parse import parse_collector_output
from cas_conformance.collector.render import render_collector_output
from cas_conformance.collector.values import decode_list, decode_text, encode_list, encode_text
from cas_conformance.domain.facts import (
    CollectorMeta,
    PerformanceCounterCategory,
    ServerFacts,
    ServiceState,
    WinHttpSettings,
)
from cas_conformance.domain.winhttp import DIRECT_ACCESS_HEX
from cas_conformance.errors import CollectorFormatError

SERVER = "CAS01"


def _base_lines() -> list[str]:
    facts = ServerFacts(
        meta=CollectorMeta(3, SERVER, "2.0", datetime(2024, 3, 4, 9, 16, 40, tzinfo=timezone.utc), "en-US"),
        local_server=SERVER,
        services=(ServiceState("MSExchangeRPC", True, "Running", "Auto"),),
        counter_categories=(PerformanceCounterCategory("MSExchange RpcClientAccess", True),),
        winhttp=WinHttpSettings(DIRECT_ACCESS_HEX, "Direct access (no proxy server)."),
    )
    return render_collector_output(facts).split("\n")[:-1]


BASE = _base_lines()


def _line_of(prefix: str) -> int:
    """1-based line number of the first line starting with *prefix*."""
    return next(i for i, line in enumerate(BASE, start=1) if line.startswith(prefix))


def _replace(prefix: str, *new: str) -> str:
    lines = list(BASE)
    index = _line_of(prefix) - 1
    lines[index : index + 1] = list(new)
    return "\n".join(lines) + "\n"


def _error(text: str) -> CollectorFormatError:
    with pytest.raises(CollectorFormatError) as caught:
        parse_collector_output(text, SERVER)
    assert caught.value.server == SERVER
    return caught.value


def test_the_base_output_parses() -> None:
    facts = parse_collector_output("\n".join(BASE) + "\n", SERVER)
    assert facts.services[0].state == "Running"
    assert BASE[0] == "#CASCONF BEGIN 3" and BASE[-1] == "#CASCONF END 3 records=4"


@pytest.mark.parametrize(
    ("prefix", "new", "section", "message", "at"),
    [
        ("#CASCONF BEGIN", ["#CASCONF BEGIN 4"], None, "unknown format version 4", None),
        ("#CASCONF BEGIN", ["#CASCONF BEGIN 2"], None, "format version 2 is the snap-in collector", None),
        ("#CASCONF BEGIN", ["#CASCONF BEGIN one"], None, "malformed BEGIN marker", None),
        ("#CASCONF END", ["#CASCONF END 3 records=5"], None, "counts 5 records, the block holds 4", None),
        ("#CASCONF END", ["#CASCONF END 4 records=4"], None, "END marker says version 4", None),
        ("#CASCONF END", ["#CASCONF END 3 records=4 "], None, "malformed END marker", None),
        ("[service]", ["[services]"], "services", "unknown section [services]", None),
        ("[perfcounter]", ["[Perfcounter]"], "service", "malformed line '[Perfcounter]'", None),
        ("State=", ["STATE=Running"], "service", "unknown key 'STATE'", None),
        ("State=", ["State Running"], "service", "malformed line", None),
        ("State=", [""], "service", "malformed line ''", None),
        ("State=", ["Fully Qualified=x"], "service", "malformed line", None),
        ("State=", ["State=Running=x"], "service", "must be percent-encoded", None),
        ("State=", ["State=Run;contoso"], "service", "must be percent-encoded", None),
        ("State=", ["State=Gest\u00e4rt"], "service", "must be percent-encoded", None),
        ("State=", ["State=Run\tcontoso"], "service", "must be percent-encoded", None),
        ("State=", ["State=100%"], "service", "bad escape '%'", None),
        ("State=", ["State=%4"], "service", "bad escape '%4'", None),
        ("State=", ["State=%zz"], "service", "bad escape '%zz'", None),
        ("State=", ["State=%c3%a9"], "service", "upper hex", None),
        ("State=", ["State=%41"], "service", "'A' is written as is", None),
        ("State=", ["State=%C3"], "service", "not UTF-8", None),
        ("State=", ["State=%FF%FE"], "service", "not UTF-8", None),
        ("Present=", ["Present=true"], "service", "bad boolean 'true'", None),
        ("Present=", ["Present="], "service", "bad boolean ''", None),
        ("CollectedAt=", ["CollectedAt=04.03.2024 09:16:40"], "meta", "bad date", None),
        ("CollectedAt=", ["CollectedAt=2024-13-04T09:16:40Z"], "meta", "month must be in 1..12", None),
        ("CollectedAt=", ["CollectedAt=2024-03-04T09:16:40+01:00"], "meta", "bad date", None),
        ("CollectedAt=", ["CollectedAt=2024-03-04T09:16:40.123Z"], "meta", "bad date", None),
        ("FormatVersion=", ["FormatVersion=01"], "meta", "bad integer '01'", None),
        ("FormatVersion=", ["FormatVersion=1.0"], "meta", "bad integer", None),
        ("FormatVersion=", ["FormatVersion=\u0661"], "meta", "bad integer", None),
        ("FormatVersion=", ["FormatVersion=1"], "meta", "FormatVersion 1 in a version 3 block", "[meta]"),
        ("ComputerName=", ["ComputerName="], "meta", "ComputerName is empty", "[meta]"),
        ("RegistryHex=", ["RegistryHex=18000"], "winhttp", "bad hex value", None),
        (
            "RegistryHex=",
            ["RegistryHex=1800000000000000010000000A000000"],
            "winhttp",
            "runs past",
            "[winhttp]",
        ),
        ("RegistryHex=", ["RegistryHex=18000000"], "winhttp", "before the proxy length", "[winhttp]"),
    ],
)
def test_each_malformation_names_section_and_line(
    prefix: str, new: list[str], section: str | None, message: str, at: str | None
) -> None:
    """*at*: the line the error must name (its prefix in the base output), else the changed line."""
    error = _error(_replace(prefix, *new))
    assert (error.section, error.line) == (section, _line_of(at or prefix))
    assert message in error.message
    assert f"line {error.line}" in str(error)


def test_a_repeated_key_is_reported_at_its_second_line() -> None:
    error = _error(_replace("State=", "State=Running", "State=Stopped"))
    assert (error.section, error.line) == ("service", _line_of("State=") + 1)
    assert "key 'State' given twice" in error.message


def test_a_missing_key_is_reported_at_its_record_header() -> None:
    error = _error(_replace("StartMode=", ))  # fmt: skip
    assert (error.section, error.line) == ("service", _line_of("[service]"))
    assert "record lacks key(s) StartMode" in error.message


def test_no_begin_marker_is_not_collector_output() -> None:
    error = _error("Add-PSSnapin : The Windows PowerShell snap-in is not installed on this machine.\n")
    assert (error.section, error.line) == (None, None)
    assert "no '#CASCONF BEGIN' marker" in error.message
    assert "no '#CASCONF BEGIN' marker" in _error("").message


def test_truncation_is_reported_even_when_cut_in_the_middle_of_an_escape() -> None:
    text = "\n".join(BASE[: _line_of("NetshText=")]) + "\nNetshText=Direct%2"
    error = _error(text)
    assert (error.section, error.line) == ("winhttp", _line_of("NetshText=") + 1)
    assert "truncated" in error.message


def test_end_before_begin_and_a_second_block_are_errors() -> None:
    block = "\n".join(BASE) + "\n"
    assert _error("#CASCONF END 3 records=0\n" + block).line == 1
    error = _error(block + "WARNING: x\n" + block)
    assert (error.line, error.message) == (len(BASE) + 2, "a second collector block after END")


def test_structural_errors_across_records() -> None:
    no_meta = [line for line in BASE if line not in ("[meta]",)]
    error = _error("\n".join(no_meta))
    assert (error.section, error.line) == (None, 2)
    assert "key 'FormatVersion' before any [section] line" in error.message
    meta, service = _line_of("[meta]") - 1, _line_of("[service]") - 1
    perf = _line_of("[perfcounter]") - 1
    service_first = BASE[:1] + BASE[service:perf] + BASE[meta:service] + BASE[perf:]
    assert service_first[1] == "[service]"
    error = _error("\n".join(service_first))
    assert (error.section, error.line, error.message) == ("service", 2, "the first record must be [meta]")
    winhttp = BASE[_line_of("[winhttp]") - 1 : _line_of("#CASCONF END") - 1]
    twice = BASE[:-1] + winhttp + ["#CASCONF END 3 records=5"]
    error = _error("\n".join(twice))
    assert (error.section, error.line) == ("winhttp", len(BASE))
    assert "more than one [winhttp] record" in error.message


def test_error_records_must_name_a_section_that_can_fail() -> None:
    lines = [*BASE[:-1], "[error]", "Section=meta", "Message=x", "#CASCONF END 3 records=5"]
    error = _error("\n".join(lines))
    assert (error.section, error.line) == ("error", len(BASE) + 1)
    assert "[error] names unknown section 'meta'" in error.message


def test_banner_lines_count_in_line_numbers_and_crlf_is_accepted() -> None:
    text = "Banner line 1\r\n\r\n" + _replace("State=", "State=%zz").replace("\n", "\r\n")
    error = _error(text)
    assert error.line == _line_of("State=") + 2
    facts = parse_collector_output("Banner\r\n" + "\r\n".join(BASE) + "\r\n", SERVER)
    assert facts.services[0].state == "Running"


def test_only_lf_splits_lines() -> None:
    """Python's splitlines would also split at \\x0b, \\x1c, \\x85, \\u2028 ...: the format does not."""
    for separator in ("\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\r"):
        text = _replace("State=", "State=a" + separator + "Name=b")
        assert "must be percent-encoded" in _error(text).message


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("", ""),
        ("plain text (with) [brackets] & 'quotes' \"double\" <tags> #hash", None),
        ("a;b=c%d", "a%3Bb%3Dc%25d"),
        ("line1\r\nline2", "line1%0D%0Aline2"),
        ("\u00e4\u00df\u20ac\U0001f600", "%C3%A4%C3%9F%E2%82%AC%F0%9F%98%80"),
        ("\x00\x7f", "%00%7F"),
        ("~ !", "~ !"),
    ],
)
def test_percent_encoding(text: str, encoded: str | None) -> None:
    spelled = encode_text(text)
    assert spelled == (text if encoded is None else encoded)
    assert spelled.isascii()
    assert decode_text(spelled) == text


def test_lists_escape_their_separator_and_reject_empty_items() -> None:
    assert encode_list(["a;b", "c=d", "%"]) == "a%3Bb;c%3Dd;%25"
    assert decode_list("a%3Bb;c%3Dd;%25") == ("a;b", "c=d", "%")
    assert decode_list("") == ()
    with pytest.raises(ValueError, match="cannot be empty"):
        encode_list(["a", ""])


@given(st.text())
def test_encoding_round_trips_any_text(text: str) -> None:
    spelled = encode_text(text)
    assert all(" " <= c <= "~" for c in spelled)
    assert ";" not in spelled and "=" not in spelled
    assert decode_text(spelled) == text


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.text())
def test_arbitrary_text_parses_or_raises_collector_format_error(text: str) -> None:
    with contextlib.suppress(CollectorFormatError):  # anything else fails the test
        parse_collector_output(text, SERVER)


_FRAGMENTS = st.sampled_from(
    [
        "[meta]", "[server]", "[winhttp]", "[error]", "[vdir]", "FormatVersion=3", "ComputerName=X",
        "PSVersion=2.0", "CollectedAt=2024-01-01T00:00:00Z", "Culture=", "Name=%", "Present=True",
        "RegistryHex=18", "Section=vdir", "Kind=owa", "#CASCONF END 3 records=1", "#CASCONF BEGIN 3", "",
    ]
)  # fmt: skip


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.lists(st.one_of(_FRAGMENTS, st.text(max_size=20)), max_size=30))
def test_block_shaped_garbage_parses_or_raises_collector_format_error(lines: list[str]) -> None:
    with contextlib.suppress(CollectorFormatError):  # anything else fails the test
        parse_collector_output("#CASCONF BEGIN 3\n" + "\n".join(lines), SERVER)


@settings(max_examples=300)
@given(st.integers(min_value=0), st.text(max_size=3), st.integers(min_value=0, max_value=3))
def test_mutated_valid_output_parses_or_raises_collector_format_error(at: int, insert: str, cut: int) -> None:
    text = "\n".join(BASE) + "\n"
    at %= len(text)
    mutated = text[:at] + insert + text[at + cut :]
    try:
        parse_collector_output(mutated, SERVER)
    except CollectorFormatError as error:
        assert error.server == SERVER

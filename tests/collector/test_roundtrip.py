"""render_collector_output and parse_collector_output are exact inverses, hostile strings included;
facts the format cannot express are refused instead of printed differently."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cas_conformance.collector.format import ERROR_SECTIONS
from cas_conformance.collector.parse import parse_collector_output
from cas_conformance.collector.render import render_collector_output
from cas_conformance.domain.facts import (
    CollectorMeta,
    EventRecord,
    RegistryValue,
    SectionError,
    ServerFacts,
    ServiceState,
    WinHttpSettings,
)
from cas_conformance.domain.winhttp import encode_winhttp_settings

T = TypeVar("T")
HOSTILE = [
    "",
    "<script>alert(1)</script>",
    "\"quoted\" 'single' `back`",
    "a;b;c",
    "key=value",
    "100% %41 %zz %",
    "line1\nline2\r\nline3\rend",
    "#CASCONF END 2 records=0",
    "\n#CASCONF BEGIN 2\n[meta]\n",
    "[server]",
    "Gesch\u00e4ftsf\u00fchrung \u2013 \u201equoted\u201c \U0001f600 \u0000 \u2028",
    " leading and trailing ",
]
TEXT = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
ITEMS = st.lists(
    st.one_of(st.sampled_from([h for h in HOSTILE if h]), st.text(min_size=1, max_size=15)), max_size=4
)
TUPLES = ITEMS.map(tuple)
BOOLS = st.booleans()
INTS = st.integers(min_value=-(2**63), max_value=2**63)
DATES = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=st.just(timezone.utc)
).map(lambda d: d.replace(microsecond=0))
HOSTS = st.from_regex(r"[a-z0-9.-]{1,20}(:[0-9]{1,5})?", fullmatch=True)
BYPASS = st.lists(st.from_regex(r"[a-z0-9.*<>-]{1,15}", fullmatch=True), max_size=4).map(tuple)


@st.composite
def winhttp_settings(draw: st.DrawFn) -> WinHttpSettings:
    proxy = draw(st.one_of(st.none(), HOSTS))
    bypass = draw(BYPASS) if proxy is not None else ()
    return WinHttpSettings(encode_winhttp_settings(proxy, bypass), draw(TEXT), proxy, bypass)


@st.composite
def server_facts(draw: st.DrawFn) -> ServerFacts:
    name = draw(st.one_of(st.sampled_from(["CAS01", "MBX01"]), st.text(min_size=1, max_size=20)))

    def many(strategy: st.SearchStrategy[T]) -> tuple[T, ...]:
        return tuple(draw(st.lists(strategy, max_size=3)))

    return ServerFacts(
        meta=CollectorMeta(3, name, draw(TEXT), draw(DATES), draw(TEXT)),
        local_server=name,
        registry=many(st.builds(RegistryValue, TEXT, TEXT, BOOLS, TEXT, TEXT)),
        services=many(st.builds(ServiceState, TEXT, BOOLS, TEXT, TEXT)),
        events=many(st.builds(EventRecord, INTS, TEXT, DATES, TEXT)),
        winhttp=draw(st.one_of(st.none(), winhttp_settings())),
        errors=many(st.builds(SectionError, st.sampled_from(sorted(ERROR_SECTIONS)), TEXT)),
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(server_facts())
def test_render_then_parse_is_the_identity(facts: ServerFacts) -> None:
    text = render_collector_output(facts)
    assert text.isascii()
    assert parse_collector_output(text, "X") == facts
    assert render_collector_output(parse_collector_output(text.replace("\n", "\r\n"), "X")) == text


def _small() -> ServerFacts:
    return ServerFacts(
        meta=CollectorMeta(3, "CAS01", "2.0", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        local_server="CAS01",
    )


def test_the_smallest_output_is_one_meta_record() -> None:
    assert render_collector_output(_small()) == (
        "#CASCONF BEGIN 3\n[meta]\nFormatVersion=3\nComputerName=CAS01\nPSVersion=2.0\n"
        "CollectedAt=2024-01-02T03:04:05Z\nCulture=\n#CASCONF END 3 records=1\n"
    )


def test_dates_print_in_utc_and_naive_dates_count_as_utc() -> None:
    berlin = timezone(timedelta(hours=1))
    aware = dataclasses.replace(
        _small(), meta=CollectorMeta(3, "CAS01", "2.0", datetime(2024, 1, 2, 4, 4, 5, 999, tzinfo=berlin))
    )
    naive = dataclasses.replace(
        _small(), meta=CollectorMeta(3, "CAS01", "2.0", datetime(2024, 1, 2, 3, 4, 5))
    )
    for facts in (aware, naive):
        assert "CollectedAt=2024-01-02T03:04:05Z\n" in render_collector_output(facts)
    assert "CollectedAt=0001-01-01T00:00:00Z" in render_collector_output(
        dataclasses.replace(_small(), meta=CollectorMeta(3, "CAS01", "2.0", datetime(1, 1, 1)))
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"local_server": "CAS02"}, "must equal meta.computer_name"),
        ({"meta": CollectorMeta(1, "CAS01", "2.0", datetime(2024, 1, 1))}, "this renders 3"),
        ({"registry": (RegistryValue("\ud800", "n", False),)}, "surrogate"),
        ({"errors": (SectionError("meta", "x"),)}, "cannot name section 'meta'"),
        (
            {"winhttp": WinHttpSettings("1800000000000000010000000000000000000000", "", "proxy:80")},
            "do not match",
        ),
        ({"winhttp": WinHttpSettings("zz", "")}, "hex"),
    ],
)
def test_facts_the_format_cannot_express_are_refused(change: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        render_collector_output(dataclasses.replace(_small(), **change))  # type: ignore[arg-type]

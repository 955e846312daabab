"""The WinHTTP bypass matcher against WinHTTP's rules: a table of entries x names."""

from __future__ import annotations

import pytest

from cas_conformance.checks.winhttp_bypass import (
    bypass_entries,
    covering_entry,
    entry_covers,
    uncovered,
)

NAMES = (
    "ex01.corp.contoso.com",
    "EX02.contoso.com",
    "contoso.com",
    "ex01",
    "ex01.fabrikam.com",
    "ex01.contoso.com.",
)
# entry -> which of NAMES it covers (1) or not (0), in the order of NAMES
TABLE = {
    "*.contoso.com": (1, 1, 0, 0, 0, 1),  # '*' spans dots; the bare domain has no leading dot
    "*.CONTOSO.COM": (1, 1, 0, 0, 0, 1),  # case-insensitive
    "*.corp.contoso.com": (1, 0, 0, 0, 0, 0),
    "*contoso.com": (1, 1, 1, 0, 0, 1),
    "ex01.corp.contoso.com": (1, 0, 0, 0, 0, 0),  # an exact FQDN covers itself only
    "EX01.CORP.CONTOSO.COM": (1, 0, 0, 0, 0, 0),
    "ex02.contoso.com": (0, 1, 0, 0, 0, 0),
    "<local>": (0, 0, 0, 1, 0, 0),  # dotless names only, never an FQDN
    "<LOCAL>": (0, 0, 0, 1, 0, 0),
    "ex01": (0, 0, 0, 1, 0, 0),
    "ex01.*": (1, 0, 0, 0, 1, 1),
    "*": (1, 1, 1, 1, 1, 1),
    "contoso.com": (0, 0, 1, 0, 0, 0),
    "*.contoso.co": (0, 0, 0, 0, 0, 0),
    "ex0?.contoso.com": (0, 0, 0, 0, 0, 0),  # '?' is no wildcard
    "*.fabrikam.com": (0, 0, 0, 0, 1, 0),
}
CASES = [
    (entry, name, bool(hit)) for entry, row in TABLE.items() for name, hit in zip(NAMES, row, strict=True)
]


@pytest.mark.parametrize(("entry", "name", "covered"), CASES)
def test_entry_covers_name(entry: str, name: str, covered: bool) -> None:
    assert entry_covers(entry, name) is covered


@pytest.mark.parametrize(
    ("text", "entries"),
    [
        ("<local>;*.contoso.com", ("<local>", "*.contoso.com")),
        ("<local> *.contoso.com", ("<local>", "*.contoso.com")),
        (" ;<local>;; \t*.contoso.com\n10.* ;", ("<local>", "*.contoso.com", "10.*")),
        ("", ()),
    ],
)
def test_entries_are_separated_by_semicolons_or_whitespace(text: str, entries: tuple[str, ...]) -> None:
    assert bypass_entries(text) == entries


def test_covering_entry_and_uncovered_names() -> None:
    entries = bypass_entries("<local>; *.fabrikam.com EX02.contoso.com")
    assert covering_entry(entries, "ex02.CONTOSO.com") == "EX02.contoso.com"
    assert covering_entry(entries, "ex01.corp.contoso.com") is None
    fqdns = ["ex01.corp.contoso.com", "ex02.contoso.com", "mbx.fabrikam.com", "ex01.corp.contoso.com"]
    assert uncovered(entries, fqdns) == ["ex01.corp.contoso.com"]
    assert uncovered((), ["a.b"]) == ["a.b"]
    assert not entry_covers("*", "")

"""Values from servers enter copy-paste-ready commands without being able to run anything."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from cas_conformance.checks.base import cmd_quoted, cmd_word, ps_string, ps_word

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def _single_quoted_body_is_closed(literal: str) -> bool:
    body = literal[1:-1]
    # inside a single-quoted literal every quote character must come doubled
    return re.fullmatch(rf"(?:[^{SINGLE_QUOTES}]|([{SINGLE_QUOTES}])\1)*", body) is not None


@given(st.text(max_size=80))
def test_ps_string_never_expands_or_breaks_out(value: str) -> None:
    literal = ps_string(value)
    assert "\n" not in literal and "\r" not in literal
    if literal.startswith('"'):
        assert literal.endswith('"') and not re.search(r'[$`"\u201c\u201d\u201e]', literal[1:-1])
    else:
        assert literal[0] == literal[-1] == "'" and _single_quoted_body_is_closed(literal)


@given(st.text(max_size=80))
def test_ps_word_is_bare_only_for_plain_names(value: str) -> None:
    word = ps_word(value)
    if word == value:
        assert re.fullmatch(r"[A-Za-z0-9._@\\-]+", value)


@given(st.text(max_size=80))
def test_cmd_values_have_no_metacharacters(value: str) -> None:
    assert not re.search(r'[&|<>^"%!\r\n]', cmd_word(value))
    assert not re.search(r'["%\r\n]', cmd_quoted(value))


def test_reference_forms_are_kept_for_ordinary_names() -> None:
    assert ps_string("DB01") == '"DB01"'
    assert ps_word("outlook.contoso.lab") == "outlook.contoso.lab"
    assert ps_string("CAS01\\owa (Default Web Site)") == '"CAS01\\owa (Default Web Site)"'
    assert ps_string("DB$(Remove-Item C:\\)") == "'DB$(Remove-Item C:\\)'"
    assert ps_string("it's") == "'it''s'"

"""Property tests: any text parses or fails as an InventoryError on a real line; any value validates or
fails as an InventoryError at the line that set it, never revealing the password."""

from __future__ import annotations

import re
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cas_conformance.errors import InventoryError
from cas_conformance.inventory import Host, Inventory, VarMapping, parse_inventory
from cas_conformance.settings import KNOWN_VARIABLES, host_settings, run_settings

PATH = "fuzz.ini"
PASSWORD = "Fuzz-Pa55word-Marker"

# Pieces that make the parser take its interesting branches more often than plain random text.
FRAGMENTS = st.sampled_from(
    [
        "[", "]", ":", "=", " ", "\t", "#", ";", "'", '"', "\\", ",", "*", "[01:03]", "\n", "\r\n", "\r",
        "all", "ungrouped", "g", "h", "web", ":vars", ":children", ":hosts", "[g]", "[g:vars]",
        "[g:children]", "[all:vars]", "[h:children]", "[::1]", ":5986", "a=1", "ansible_port=",
        "x = y", "\ufeff", "\x00", "é",
    ]
)  # fmt: skip
# Whole lines of the grammar, so that group graphs (and their cycles) and overrides come up too.
LINES = st.sampled_from(
    [
        "[g]", "[h]", "[k]", "[all]", "[g:children]", "[h:children]", "[k:children]", "[all:children]",
        "[g:vars]", "[all:vars]", "[ungrouped:vars]", "g", "h", "k", "all", "h1", "h2 a=1", "h1 a=2 b='x y'",
        "x = 1", "a = 'q'", "h1 a=1 a=2", "h3:5986", "web[01:03]", "  # c", "; c", "",
    ]
)  # fmt: skip
INI_TEXT = st.one_of(
    st.text(),
    st.lists(FRAGMENTS | st.text(max_size=3), max_size=40).map("".join),
    st.lists(LINES | st.lists(FRAGMENTS, max_size=6).map("".join), max_size=14).map("\n".join),
)


def line_count(text: str) -> int:
    return len(re.split(r"\r\n|\r|\n", text))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(INI_TEXT)
def test_any_text_parses_or_fails_on_a_line_of_the_file(text: str) -> None:
    try:
        inv = parse_inventory(text, PATH)
    except InventoryError as error:
        assert error.path == PATH
        assert error.line is not None and 1 <= error.line <= line_count(text)
        return
    last = line_count(text)
    for host in inv.hosts.values():
        assert "all" in host.groups and host.groups == tuple(sorted(host.groups))
        assert set(host.var_lines) == set(host.vars)
        assert all(1 <= line <= last for line in host.var_lines.values())
        assert 1 <= host.line <= last
        assert host in inv.hosts_in("all")
    assert inv.hosts_in("all") == tuple(inv.hosts.values())


def fake_inventory(variables: dict[str, str], line: int) -> tuple[Inventory, Host]:
    """An inventory whose one host (and all:vars) hold *variables*, each set on *line*."""
    lines = MappingProxyType(dict.fromkeys(variables, line))
    host = Host("cas1.corp.local", VarMapping(variables), lines, ("all",), 1)
    inventory = Inventory(
        PATH, MappingProxyType({host.name: host}), MappingProxyType({}), VarMapping(variables), lines
    )
    return inventory, host


VALUES = st.one_of(
    st.text(),
    st.text(alphabet="0123456789.:,[]-_ abcdefhklmnoprstuvxyz:\\", max_size=30),
    st.sampled_from(["", "0", "-1", "1e3", "nan", "inf", "65536", "00005", "none", "[::1]:53", "1" * 5000]),
)


@pytest.mark.parametrize("var", sorted(KNOWN_VARIABLES - {"ansible_password"}))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_any_value_validates_or_fails_at_its_line(var: str, value: str) -> None:
    inventory, host = fake_inventory({var: value, "ansible_password": PASSWORD}, line=7)
    for build in (
        lambda: host_settings(inventory, host, password=None),
        lambda: run_settings(inventory),
    ):
        try:
            built = build()
        except InventoryError as error:
            assert error.line == 7
            assert error.message.startswith(f"invalid {var}: ")
            assert PASSWORD not in str(error)
        else:
            assert PASSWORD not in repr(built)

"""The INI inventory parser: Ansible's groups, precedence and quoting, and every error with its line."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from cas_conformance.errors import InventoryError
from cas_conformance.inventory import Inventory, load_inventory, parse_inventory

PATH = "site/inventory.ini"


def parse(text: str) -> Inventory:
    return parse_inventory(textwrap.dedent(text).lstrip("\n"), PATH)


def parse_error(text: str) -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        parse(text)
    assert caught.value.path == PATH
    return caught.value


# --- structure ----------------------------------------------------------------------------------


def test_sections_groups_and_membership() -> None:
    inv = parse(
        """
        lonely
        [cas]
        cas1.corp.local
        cas2.corp.local
        [mbx]
        mbx1.corp.local
        [exchange:children]
        cas
        mbx
        [published]
        mail.contoso.com
        """
    )
    assert list(inv.hosts) == [
        "lonely",
        "cas1.corp.local",
        "cas2.corp.local",
        "mbx1.corp.local",
        "mail.contoso.com",
    ]
    assert inv.hosts["cas1.corp.local"].groups == ("all", "cas", "exchange")
    assert inv.hosts["lonely"].groups == ("all", "ungrouped")
    assert inv.hosts["mail.contoso.com"].groups == ("all", "published")
    assert inv.groups["ungrouped"].hosts == ("lonely",)
    assert inv.groups["all"].hosts == tuple(inv.hosts)
    assert inv.groups["exchange"].children == ("cas", "mbx")
    assert inv.groups["exchange"].line == 7
    assert inv.groups["cas"].hosts == ("cas1.corp.local", "cas2.corp.local")
    assert [h.name for h in inv.hosts_in("exchange")] == [
        "cas1.corp.local",
        "cas2.corp.local",
        "mbx1.corp.local",
    ]
    assert [h.name for h in inv.hosts_in("published")] == ["mail.contoso.com"]
    assert inv.hosts_in("all") == tuple(inv.hosts.values())
    assert inv.hosts_in("nosuchgroup") == ()
    assert inv.hosts["cas2.corp.local"].line == 4


def test_ungrouped_holds_only_hosts_in_no_other_group() -> None:
    inv = parse(
        """
        early
        alone
        [web]
        early
        [all]
        listed_in_all
        """
    )
    assert inv.groups["ungrouped"].hosts == ("alone", "listed_in_all")
    assert inv.hosts["early"].groups == ("all", "web")
    assert inv.hosts["early"].line == 1
    assert inv.hosts["listed_in_all"].groups == ("all", "ungrouped")


def test_children_of_children_and_undefined_child_group() -> None:
    error = parse_error("[site:children]\nexchange\nfuture\n[exchange]\nh1\n")
    assert error.line == 3 and "'future', which is never defined" in error.message
    inv = parse(
        """
        [site:children]
        exchange
        future
        [future:children]
        [exchange:children]
        cas
        [cas]
        cas1
        [other]
        x1
        """
    )
    assert inv.hosts["cas1"].groups == ("all", "cas", "exchange", "site")
    assert [h.name for h in inv.hosts_in("site")] == ["cas1"]
    assert inv.groups["future"].hosts == () and inv.groups["future"].line == 4
    assert inv.hosts_in("future") == ()
    assert (inv.groups["site"].depth, inv.groups["exchange"].depth, inv.groups["cas"].depth) == (1, 2, 3)
    assert inv.groups["site"].children == ("exchange", "future")
    assert set(inv.groups["all"].children) == {"ungrouped", "site", "other"}


def test_host_in_two_groups_merges_vars_later_line_wins() -> None:
    inv = parse(
        """
        [a]
        h1 x=1 y=1
        [b]
        h1 y=2 z=2
        """
    )
    host = inv.hosts["h1"]
    assert dict(host.vars) == {"x": "1", "y": "2", "z": "2"}
    assert dict(host.var_lines) == {"x": 2, "y": 4, "z": 4}
    assert host.line == 2
    assert inv.groups["a"].hosts == ("h1",) and inv.groups["b"].hosts == ("h1",)


# --- precedence ---------------------------------------------------------------------------------


def test_precedence_all_then_parent_then_child_then_host() -> None:
    inv = parse(
        """
        [all:vars]
        v1 = all
        v2 = all
        v3 = all
        v4 = all
        [cas:vars]
        v3 = child
        v2 = child
        [exchange:vars]
        v2 = parent
        v4 = parent
        [exchange:children]
        cas
        [cas]
        cas1 v3=host
        """
    )
    host = inv.hosts["cas1"]
    assert dict(host.vars) == {"v1": "all", "v2": "child", "v3": "host", "v4": "parent"}
    assert dict(host.var_lines) == {"v1": 2, "v2": 8, "v3": 15, "v4": 11}
    assert inv.all_vars == {"v1": "all", "v2": "all", "v3": "all", "v4": "all"}
    assert inv.all_var_lines["v4"] == 5


def test_same_depth_groups_apply_in_name_order() -> None:
    inv = parse(
        """
        [zeta]
        h1
        [alpha]
        h1
        [zeta:vars]
        v = from zeta
        [alpha:vars]
        v = from alpha
        """
    )
    assert inv.hosts["h1"].vars["v"] == "from zeta"
    assert inv.hosts["h1"].var_lines["v"] == 6


def test_depth_is_the_longest_path_from_all() -> None:
    # 'deep' is a child of 'top' (depth 1) and of 'mid' (depth 2): depth 3, so it beats 'mid'.
    inv = parse(
        """
        [top:children]
        deep
        mid
        [mid:children]
        deep
        [deep]
        h1
        [deep:vars]
        v = deep
        [mid:vars]
        v = mid
        """
    )
    assert inv.groups["deep"].depth == 3
    assert inv.hosts["h1"].vars["v"] == "deep"


def test_later_vars_section_of_the_same_group_overrides() -> None:
    inv = parse(
        """
        [g]
        h1
        [g:vars]
        v = first
        [g:vars]
        v = second
        """
    )
    assert (inv.hosts["h1"].vars["v"], inv.hosts["h1"].var_lines["v"]) == ("second", 6)


# --- quoting, comments, values ------------------------------------------------------------------


def test_host_line_quoting_and_inline_comments() -> None:
    inv = parse(
        """
        [g]
        h1 a="two words" b='single # not a comment' c=plain d="x # y"  # a comment
        h2 e=b#c f=1 # comment with key=value
        h3 g='C:\\certs\\ca.pem' h=C:\\certs
          # indented comment
        ; semicolon comment
          h4
        """
    )
    assert dict(inv.hosts["h1"].vars) == {
        "a": "two words",
        "b": "single # not a comment",
        "c": "plain",
        "d": "x # y",
    }
    # As Ansible's shlex split: '#' inside a word starts a comment too, so f is never read.
    assert dict(inv.hosts["h2"].vars) == {"e": "b"}
    assert dict(inv.hosts["h3"].vars) == {"g": "C:\\certs\\ca.pem", "h": "C:certs"}
    assert inv.hosts["h4"].line == 7


def test_vars_section_values_quotes_comments_and_spacing() -> None:
    inv = parse(
        """
        [all:vars]
        plain = some value with spaces
        tight=x
        quoted = "a # b"   # comment
        single = 'it is'
        apostrophe = it's fine
        commented = value # comment
        hash_inside = a#b
        empty =
        equals = a=b=c
        """
    )
    assert dict(inv.all_vars) == {
        "plain": "some value with spaces",
        "tight": "x",
        "quoted": "a # b",
        "single": "it is",
        "apostrophe": "it's fine",
        "commented": "value # comment",
        "hash_inside": "a#b",
        "empty": "",
        "equals": "a=b=c",
    }


def test_values_are_python_literals_as_ansible_reads_them() -> None:
    inv = parse(
        """
        h1 a=[1,2] b=True c=0x10 d={'k':1} s="'5'" t=1,2 u=x
        [all:vars]
        e = None
        f = 1e3
        g = 'quoted'
        h = 'unclosed
        i = "x" y
        """
    )
    assert dict(inv.hosts["h1"].values) == {
        "a": [1, 2],
        "b": True,
        "c": 16,
        "d": "{k:1}",  # the shell split took the quotes, so not a literal any more
        "s": "5",
        "t": (1, 2),
        "u": "x",
        "e": None,
        "f": 1000.0,
        "g": "quoted",
        "h": "'unclosed",
        "i": '"x" y',
    }
    # The settings read text: booleans lower-case, None empty, lists as JSON.
    assert dict(inv.hosts["h1"].vars) == {
        "a": "[1, 2]",
        "b": "true",
        "c": "16",
        "d": "{k:1}",
        "s": "5",
        "t": "[1, 2]",
        "u": "x",
        "e": "",
        "f": "1000.0",
        "g": "quoted",
        "h": "'unclosed",
        "i": '"x" y',
    }


def test_host_ports_and_ipv6_addresses() -> None:
    inv = parse(
        """
        cas1.corp.local:5985
        [::1]:5986 x=1
        fe80::1
        10.0.0.5:5986 ansible_port=1234
        """
    )
    assert list(inv.hosts) == ["cas1.corp.local", "::1", "fe80::1", "10.0.0.5"]
    assert inv.hosts["cas1.corp.local"].vars["ansible_port"] == "5985"
    assert dict(inv.hosts["::1"].vars) == {"ansible_port": "5986", "x": "1"}
    assert "ansible_port" not in inv.hosts["fe80::1"].vars
    assert inv.hosts["10.0.0.5"].vars["ansible_port"] == "1234"


def test_crlf_bom_and_blank_lines_keep_line_numbers() -> None:
    inv = parse_inventory("\ufeff# c\r\n\r\n[g]\r\nh1 a=1\rh2\n", PATH)
    assert (inv.hosts["h1"].line, inv.hosts["h2"].line) == (4, 5)
    with pytest.raises(InventoryError) as caught:
        parse_inventory("[g]\r\nh1\r\n[broken\r\n", PATH)
    assert caught.value.line == 3


def test_headers_accept_comments_and_hosts_suffix() -> None:
    inv = parse(
        """
        [web-servers.dc1]  # comment
        h1
        [web-servers.dc1:hosts] ; comment
        h2
        [g_2:children] # c
        web-servers.dc1   # trailing comment
        """
    )
    assert inv.groups["web-servers.dc1"].hosts == ("h1", "h2")
    assert inv.groups["g_2"].children == ("web-servers.dc1",)


# --- errors, each with its line -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("[g]\nh1\n[broken\n", 3, "not closed"),
        ("[g]\n[g:foo]\n", 2, "unknown section suffix ':foo'"),
        ("[g:]\n", 1, "unknown section suffix"),
        ("[g:vars:x]\n", 1, "unknown section suffix"),
        ("[g] trailing\n", 1, "unexpected text after the section header"),
        ("# comment\n[]\n", 2, "empty group name"),
        ("[:vars]\n", 1, "empty group name"),
        ("[we b]\n", 1, "invalid group name"),
        ("[a$b]\n", 1, "invalid group name"),
        ("[g]\nh1\n[g:vars]\nnot an assignment\n", 4, "expected 'name = value'"),
        ("[all:vars]\n= value\n", 2, "invalid variable name"),
        ("[all:vars]\nbad-name = 1\n", 2, "invalid variable name"),
        ("[all:vars]\n1st = 1\n", 2, "invalid variable name"),
        ("[g]\nh1 a=1 stray\n", 2, "word 3 has no '='"),
        ("[g]\nh1 =1\n", 2, "invalid variable name (word 2)"),
        ("[g]\nh1 a-b=1\n", 2, "invalid variable name"),
        ("[g]\nh1\nh2 a='unclosed\n", 3, "unbalanced quote"),
        ("[g]\nh1 a=x\\\n", 2, "trailing backslash"),
        ("[g]\nweb[3:1].corp.local\n", 2, "the start comes after the end"),
        ("web[01:100]\n", 1, "same width"),
        ("web[a:c:0]\n", 1, "positive whole number"),
        ("web[a:5]\n", 1, "two numbers or two letters"),
        ("web[1:2:3:4]\n", 1, "[start:end]"),
        ("[g]\nweb*.corp\n", 2, "host patterns are not host names"),
        ("[g]\n'' a=1\n", 2, "empty host name"),
        ('[g]\n"two words" a=1\n', 2, "spaces"),
        ("[g]\n:5986\n", 2, "empty host name"),
        ("[g]\nh1:99999\n", 2, "invalid port"),
        ("[g]\nh1:abc\n", 2, "invalid port"),
        ("[g]\nh1:" + "9" * 5000 + "\n", 2, "invalid port"),
        ("[g]\na:b:c\n", 2, "invalid host name"),
        ("[g]\nansible_host=1.2.3.4\n", 2, "expected a host name"),
        ("[g]\nh1 a=1 b=2 a=3\n", 2, "variable 'a' is set twice"),
        ("[g:children]\ntwo groups\n", 2, "one group name per line"),
        ("[g:children]\nbad$name\n", 2, "invalid group name"),
        ("[g]\nh1\n[typo:vars]\nx = 1\n", 3, "never defined"),
        ("[g:children]\ng\n", 2, "cycle: g -> g"),
        ("[g:children]\nall\n", 2, "cycle: g -> all -> g"),
        ("[a:children]\nb\n[b:children]\nc\n[c:children]\n# c\na\n", 7, "cycle: c -> a -> b -> c"),
    ],
)
def test_errors_point_at_their_line(text: str, line: int, fragment: str) -> None:
    error = parse_error(text)
    assert error.line == line
    assert fragment in error.message
    assert str(error) == f"{PATH}:{line}: {error.message}"


def test_vars_for_a_group_defined_later_is_fine_but_only_as_a_child_is_not() -> None:
    error = parse_error("[g:vars]\nv = 1\n[parent:children]\ng\n")
    assert error.line == 1 and "[g:vars] names a group that is never defined" in error.message
    inv = parse(
        """
        [g:vars]
        v = 1
        [parent:children]
        g
        [g]
        [h:vars]
        w = 2
        [h]
        h1
        """
    )
    assert inv.groups["g"].vars == {"v": "1"} and inv.groups["h"].vars == {"w": "2"}


def test_errors_never_repeat_value_text() -> None:
    for text in (
        "[g]\nh1 ansible_password=hunter2 wrong\n",
        "[g]\nh1 ansible_password=hunter2 b=1 b=2 'x\n",
        "[all:vars]\nansible_password hunter2\n",
        "[all:vars]\nansible_password hunter2=x\n",
    ):
        error = parse_error(text)
        assert "hunter2" not in str(error), text


def test_inventory_error_points_at_the_effective_line() -> None:
    inv = parse(
        """
        [all:vars]
        dns_timeout = 5
        [g]
        h1 http_timeout=3
        [g:vars]
        dns_timeout = 7
        """
    )
    host = inv.hosts["h1"]
    assert inv.error(host, "dns_timeout", "bad").line == 6
    assert inv.error(host, "http_timeout", "bad").line == 4
    assert inv.error(host, "unset_var", "bad").line == 4
    assert inv.error(None, "dns_timeout", "bad").line == 2
    assert inv.error(None, "unset_var", "bad").line is None
    assert str(inv.error(host, "dns_timeout", "bad value")) == f"{PATH}:6: bad value"


def test_passwords_are_masked_in_reprs() -> None:
    inv = parse(
        """
        h1 ansible_password=hunter2 ansible_become_pass=hunter3 other=visible
        [all:vars]
        api_token = hunter4
        """
    )
    shown = repr(inv)
    assert "visible" in shown and "'ansible_password': '***'" in shown
    for secret in ("hunter2", "hunter3", "hunter4"):
        assert secret not in shown
    assert inv.hosts["h1"].vars["ansible_password"] == "hunter2"


def test_inventory_is_read_only() -> None:
    inv = parse("h1 a=1\n")
    with pytest.raises(TypeError):
        inv.hosts["h1"].vars["a"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        inv.hosts["h2"] = inv.hosts["h1"]  # type: ignore[index]


# --- files --------------------------------------------------------------------------------------


def test_load_inventory_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory.ini"
    path.write_bytes("\ufeff[cas]\ncas1.corp.local\n".encode())
    inv = load_inventory(path)
    assert inv.path == os.fspath(path)
    assert list(inv.hosts) == ["cas1.corp.local"]


def test_load_inventory_missing_or_unreadable(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ini"
    with pytest.raises(InventoryError) as caught:
        load_inventory(missing)
    assert (caught.value.path, caught.value.line) == (str(missing), None)
    assert str(caught.value).startswith(f"{missing}: cannot read the inventory")
    assert dict(load_inventory(tmp_path).hosts) == {}  # an empty directory: no source, no host


def test_load_inventory_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.ini"
    path.write_bytes(b"[g]\nh1\nh\xe9\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert caught.value.line == 3
    assert "UTF-8" in caught.value.message


def test_load_inventory_reports_parse_errors_with_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.ini"
    path.write_text("[g]\nh1\n[g:nope]\n", encoding="utf-8")
    with pytest.raises(InventoryError, match=r"bad\.ini:3: unknown section suffix"):
        load_inventory(path)

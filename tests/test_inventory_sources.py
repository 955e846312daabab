"""Inventory sources without ansible-core: Vault, YAML, vars files, directories, ranges, patterns,
and every error with its file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cas_conformance.domain.secret import Secret
from cas_conformance.errors import InventoryError
from cas_conformance.inventory import load_inventory, vault
from cas_conformance.inventory.for_run import load_for_run
from cas_conformance.inventory.host_entries import parse_host_entry
from cas_conformance.inventory.patterns import select, split_pattern
from tests.ca_bundle import PEM_BUNDLE

# Made by `ansible-vault encrypt_string` (ansible-core 2.19) with the test password below.
TEST_PASSWORD = b"conformance-test-vault"
ANSIBLE_VAULT_TEXT = """\
$ANSIBLE_VAULT;1.1;AES256
38383763373031363430376162393362393839643335363661336338653637373237386139633738
6230336462326165356533343330353862383239663733390a343934646262373035343464396436
35306331343262633136633231333637376238633139303230623739376434393165643737633162
6664663932656332610a303231626363366438373065626134353431356535663065333562633166
3634"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def test_vault_decrypts_what_ansible_vault_wrote() -> None:
    assert vault.decrypt(ANSIBLE_VAULT_TEXT, TEST_PASSWORD) == "Vaulted-Pass1"
    with pytest.raises(vault.VaultPasswordError):
        vault.decrypt(ANSIBLE_VAULT_TEXT, b"wrong")
    label = ANSIBLE_VAULT_TEXT.replace(";1.1;AES256", ";1.2;AES256;prod")
    assert vault.decrypt(label, TEST_PASSWORD) == "Vaulted-Pass1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not vault", "header"),
        ("$ANSIBLE_VAULT;1.1;AES128\n00", "only AES256"),
        ("$ANSIBLE_VAULT;1.1;AES256\nzz", "not hexadecimal"),
        ("$ANSIBLE_VAULT;1.1;AES256\n6162", "salt, HMAC and ciphertext"),
    ],
)
def test_vault_format_errors(text: str, fragment: str) -> None:
    with pytest.raises(vault.VaultFormatError, match=fragment):
        vault.decrypt(text, TEST_PASSWORD)


def test_vault_round_trip_and_fixed_salt() -> None:
    text = vault.encrypt("héllo\nworld", b"pw", salt=b"s" * 32)
    assert text.startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    assert all(len(line) <= 80 for line in text.splitlines())
    assert vault.decrypt(text, b"pw") == "héllo\nworld"
    assert text == vault.encrypt("héllo\nworld", b"pw", salt=b"s" * 32)


def test_vaulted_password_is_a_secret_never_a_var(tmp_path: Path) -> None:
    body = textwrap.indent(ANSIBLE_VAULT_TEXT, "        ")
    write(tmp_path, {"hosts.yml": f"all:\n  hosts:\n    cas1:\n      ansible_password: !vault |\n{body}\n"})
    (tmp_path / "pw").write_text("conformance-test-vault\n")
    inventory = load_for_run(
        str(tmp_path / "hosts.yml"), vault_password_file=str(tmp_path / "pw"), environ={}
    )
    host = inventory.hosts["cas1"]
    assert host.secrets["ansible_password"] == Secret("Vaulted-Pass1")
    assert "ansible_password" not in host.vars
    assert "Vaulted-Pass1" not in repr(inventory) + repr(host.secrets)
    assert inventory.error(host, "ansible_password", "x").line == 4


def test_vault_password_file_errors_name_the_file(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "h1\n", "empty": "\n"})
    with pytest.raises(InventoryError, match="cannot read the Vault password"):
        load_for_run(str(tmp_path / "hosts.ini"), vault_password_file=str(tmp_path / "missing"), environ={})
    with pytest.raises(InventoryError, match="ANSIBLE_VAULT_PASSWORD_FILE: the Vault password file is empty"):
        load_for_run(
            str(tmp_path / "hosts.ini"), environ={"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "empty")}
        )


def test_whole_file_vault_vars_file_and_inventory(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "[cas]\ncas1\n"})
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "cas.yml").write_text(vault.encrypt("ansible_user: svc\n", TEST_PASSWORD))
    assert (
        load_inventory(tmp_path / "hosts.ini", vault_password=TEST_PASSWORD)
        .hosts["cas1"]
        .vars["ansible_user"]
        == "svc"
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path / "hosts.ini")
    assert caught.value.path.endswith("cas.yml") and caught.value.line == 1
    (tmp_path / "hosts.ini").write_text(vault.encrypt("[mbx]\nmbx1\n", TEST_PASSWORD))
    assert list(load_inventory(tmp_path / "hosts.ini", vault_password=TEST_PASSWORD).hosts) == ["mbx1"]


@pytest.mark.parametrize(
    ("files", "source", "where", "fragment"),
    [
        ({"s.yml": "all:\n  hosts:\n    a: [\n"}, "s.yml", ("s.yml", 4), "YAML syntax error"),
        ({"s.yml": "all:\n  hostz:\n    a:\n"}, "s.yml", ("s.yml", 2), "unexpected key 'hostz'"),
        ({"s.yml": "all:\n  hosts:\n    5986:\n"}, "s.yml", ("s.yml", 3), "must be a string"),
        ({"s.yml": "all:\n  hosts:\n    'h[3:1]':\n"}, "s.yml", ("s.yml", 3), "start comes after the end"),
        ({"s.yml": "- a\n"}, "s.yml", ("s.yml", 1), "mapping of group names"),
        ({"h.ini": "h1\n", "group_vars/all.yml": "a: 1\nb: [\n"}, "h.ini", ("group_vars/all.yml", 3), "YAML"),
        ({"h.ini": "h1\n", "host_vars/h1.yml": "- 1\n"}, "h.ini", ("host_vars/h1.yml", 1), "a mapping"),
        ({"d/a.ini": "h1\n", "d/b.ini": "[g\n"}, "d", ("d/b.ini", 1), "not closed"),
        ({"h.ini": "[g:vars]\nansible_group_priority = high\n[g]\n"}, "h.ini", ("h.ini", 2), "whole number"),
    ],
)
def test_errors_keep_file_and_line(
    tmp_path: Path, files: dict[str, str], source: str, where: tuple[str, int], fragment: str
) -> None:
    write(tmp_path, files)
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path / source)
    assert (caught.value.path, caught.value.line) == (str(tmp_path / where[0]), where[1])
    assert fragment in caught.value.message


def test_var_files_point_errors_at_the_vars_file(tmp_path: Path) -> None:
    write(
        tmp_path, {"h.ini": "[cas]\ncas1 a=1\n", "group_vars/cas/x.yml": "a: 2\nb: 3\nwinrm_timeout: five\n"}
    )
    inventory = load_inventory(tmp_path / "h.ini")
    host = inventory.hosts["cas1"]
    assert inventory.source_of(host, "winrm_timeout") == (str(tmp_path / "group_vars/cas/x.yml"), 3)
    assert inventory.source_of(host, "a") == (str(tmp_path / "h.ini"), 2)  # the host line wins


def test_plugin_config_without_ansible_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cas_conformance.inventory.external.ansible_inventory_command", lambda: None)
    write(tmp_path, {"aws.yml": "plugin: amazon.aws.aws_ec2\n"})
    with pytest.raises(InventoryError, match="needs ansible-core"):
        load_inventory(tmp_path / "aws.yml")


@pytest.mark.parametrize(
    ("entry", "names", "port"),
    [
        ("cas[01:03].corp:5986", ["cas01.corp", "cas02.corp", "cas03.corp"], 5986),
        ("mbx-[a:c]", ["mbx-a", "mbx-b", "mbx-c"], None),
        ("w[1:10:4]", ["w1", "w5", "w9"], None),
        ("r[1:2]-[x:y]", ["r1-x", "r1-y", "r2-x", "r2-y"], None),
        ("h[:2]", ["h0", "h1", "h2"], None),
        ("[::1]:5986", ["::1"], 5986),
        ("fe80::1", ["fe80::1"], None),
        ("10.0.0.[1:2]", ["10.0.0.1", "10.0.0.2"], None),
    ],
)
def test_host_entries_expand_as_ansible(entry: str, names: list[str], port: int | None) -> None:
    assert parse_host_entry(entry, "x", 1) == (names, port)


PATTERNS_INVENTORY = "top\n[cas]\ncas1\ncas2\ncas3\n[mbx]\nmbx1\ncas1\n[exchange:children]\ncas\nmbx\n"


@pytest.mark.parametrize(
    ("pattern", "hosts"),
    [
        ("all", ["top", "cas1", "cas2", "cas3", "mbx1"]),
        ("cas:mbx", ["cas1", "cas2", "cas3", "mbx1"]),
        ("!cas:exchange", ["mbx1"]),  # exclusions apply last, whatever the order written
        ("exchange:&mbx", ["cas1", "mbx1"]),
        ("&mbx", ["cas1", "mbx1"]),
        ("cas[1:]", ["cas2", "cas3"]),
        ("cas[-1]", ["cas3"]),
        ("cas[5]", []),
        ("~(top|mbx)", ["top", "cas1", "mbx1"]),  # group mbx matches too
        ("CAS1", []),
    ],
)
def test_patterns(tmp_path: Path, pattern: str, hosts: list[str]) -> None:
    (tmp_path / "h.ini").write_text(PATTERNS_INVENTORY)
    inventory = load_inventory(tmp_path / "h.ini")
    assert [h.name for h in select(inventory, pattern)] == hosts


def test_split_pattern_keeps_addresses_and_ranges_whole() -> None:
    assert split_pattern("a:b,c") == ["a:b", "c"]
    assert split_pattern("a:b:!c") == ["a", "b", "!c"]
    assert split_pattern("web[1:3]:db") == ["web[1:3]", "db"]
    assert split_pattern("fe80::1") == ["fe80::1"]
    assert split_pattern("host:5986") == ["host:5986"]


def test_limited_inventory_keeps_groups_of_the_selected_hosts(tmp_path: Path) -> None:
    (tmp_path / "h.ini").write_text(PATTERNS_INVENTORY)
    inventory = load_for_run(str(tmp_path / "h.ini"), limit="mbx", environ={})
    assert list(inventory.hosts) == ["cas1", "mbx1"]
    assert inventory.groups["cas"].hosts == ("cas1",)
    assert [h.name for h in inventory.hosts_in("exchange")] == ["cas1", "mbx1"]
    with pytest.raises(InventoryError, match="matches no host"):
        load_for_run(str(tmp_path / "h.ini"), limit="nothing", environ={})
    with pytest.raises(InventoryError, match="no such file"):
        load_for_run(str(tmp_path / "h.ini"), limit=f"@{tmp_path / 'absent'}", environ={})


def test_password_warning_names_the_vars_file_and_relative_paths_start_at_a_directory(tmp_path: Path) -> None:
    from cas_conformance.settings import resolve_password, run_settings

    write(
        tmp_path,
        {
            "site/hosts.ini": "cas1\n",
            "site/group_vars/all.yml": "x: 1\nansible_password: plain\ntls_ca_bundle: ../ca.pem\n",
            "ca.pem": PEM_BUNDLE,  # outside: every file in the directory is an inventory source
        },
    )
    inventory = load_inventory(tmp_path / "site")
    warnings: list[str] = []
    assert resolve_password(inventory, environ={}, ask=None, warn=warnings.append) is None
    assert warnings and f"{tmp_path / 'site/group_vars/all.yml'}:2" in warnings[0]
    assert inventory.base_dir == str(tmp_path / "site")
    assert run_settings(inventory).tls_ca_bundle == str(tmp_path / "ca.pem")

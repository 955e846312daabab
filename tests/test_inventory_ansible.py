"""The suite's reading of an inventory against ansible-core's own (``ansible-inventory --list``).

Each case writes an inventory using one feature (ranges, group_vars/host_vars, YAML, a directory,
group priority, literal values, Vault, a dynamic script), then compares
``python -m cas_conformance inventory --list`` with ``ansible-inventory -i X --list``, passwords
masked on both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from cas_conformance.inventory.external import ansible_inventory_command
from cas_conformance.inventory.model import is_secret_name

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE = ansible_inventory_command()
VAULT_PASSWORD = "conformance-test-vault"  # the documented test password of the Vault cases

pytestmark = pytest.mark.skipif(ANSIBLE is None, reason="ansible-core (the test extra) is not installed")


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_LOCAL_TEMP": str(tmp / ".ansible-tmp"),
        "ANSIBLE_HOME": str(tmp / ".ansible"),
    }


def ansible_list(source: Path, *extra: str) -> dict[str, object]:
    assert ANSIBLE is not None
    done = subprocess.run(
        [ANSIBLE, "-i", str(source), "--list", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(source.parent),
        check=True,
    )
    data = json.loads(done.stdout)
    meta = data["_meta"]
    meta.pop("profile", None)
    for hostvars in meta["hostvars"].values():
        for key in hostvars:
            if is_secret_name(key):
                hostvars[key] = "***"
    return data  # type: ignore[no-any-return]


def inventory_list(source: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m cas_conformance inventory --list --inventory SOURCE EXTRA...``, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cas_conformance", "inventory", "--list", "--inventory", str(source), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def ours(source: Path, *extra: str) -> dict[str, object]:
    done = inventory_list(source, *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


RANGES_AND_LITERALS = {
    "hosts.ini": """
        top a=1 b=True c="[1,2]" d=1,2 e='x y' f=None g=0x10 h=C:\\\\x
        [cas]
        cas[01:04].corp.example.com:5986 ansible_user=svc
        mbx-[a:c]
        w[1:10:2] ansible_port=5985
        r[1:2]-[x:y]
        [cas:vars]
        gv = 5
        gs = 'quoted'
        gc = value # not a comment
        [exchange:children]
        cas
        [exchange:vars]
        ansible_password = Secret1
        """,
}

VARS_FILES = {
    "inv/hosts.ini": """
        [cas]
        cas1
        cas2
        [mbx]
        mbx1
        [exchange:children]
        cas
        mbx
        [cas:vars]
        level = cas-inline
        [all:vars]
        level = all-inline
        """,
    "inv/group_vars/all.yml": "level: all-file\nshared: [1, 2]\nflag: yes\n",
    "inv/group_vars/exchange/10-first.yml": "level: exchange-file\norder: first\n",
    "inv/group_vars/exchange/20-second.yaml": "order: second\n",
    "inv/group_vars/exchange/.hidden.yml": "order: hidden\n",
    "inv/group_vars/mbx.json": '{"level": "mbx-json"}',
    "inv/host_vars/cas2": "level: cas2-file\n",
    "inv/host_vars/mbx1.yml": "ansible_port: 5986\n",
}

YAML_INVENTORY = {
    "site.yml": """
        all:
          vars:
            dns_timeout: 5
          hosts:
            lonely.corp:
          children:
            cas:
              hosts:
                cas[01:02].corp:
                  ansible_port: 5986
                "10.0.0.5:5985":
              vars:
                winrm_timeout: 30
                enabled: yes
            mbx:
              children:
                cas:
              hosts:
                mbx01.corp:
                  roles: [mailbox]
        """,
    "group_vars/cas.yml": "winrm_timeout: 60\n",
}

PRIORITY = {
    "hosts.ini": """
        [a_first]
        h1
        [z_last]
        h1
        [b_mid]
        h1
        [a_first:vars]
        v = a
        ansible_group_priority = 10
        [z_last:vars]
        v = z
        [b_mid:vars]
        v = b
        ansible_group_priority = 5
        """,
}

DIRECTORY = {
    "site/10-cas.ini": "[cas]\ncas1 x=ini\n[cas:vars]\nfrom = ini\n",
    "site/20-more.yaml": "all:\n  children:\n    cas:\n      hosts:\n        cas2:\n          x: yaml\n",
    "site/notes.md": "not an inventory\n",
    "site/old.ini.bak": "[broken\n",
    "site/.hidden": "[broken\n",
    "site/nested/30-mbx": "[mbx]\nmbx1\n",
    "site/group_vars/cas.yml": "from: file\n",
}


@pytest.mark.parametrize(
    ("files", "source"),
    [
        (RANGES_AND_LITERALS, "hosts.ini"),
        (VARS_FILES, "inv/hosts.ini"),
        (YAML_INVENTORY, "site.yml"),
        (PRIORITY, "hosts.ini"),
        (DIRECTORY, "site"),
    ],
    ids=["ranges-literals", "group_vars-host_vars", "yaml", "group-priority", "directory"],
)
def test_same_reading_as_ansible_inventory(tmp_path: Path, files: dict[str, str], source: str) -> None:
    write(tmp_path, files)
    assert ours(tmp_path / source) == ansible_list(tmp_path / source)


def test_every_fixture_inventory_reads_as_ansible_reads_it() -> None:
    inventories = [ROOT / "inventory.ini", *sorted((ROOT / "fixtures").rglob("*.ini"))]
    assert len(inventories) > 1
    for path in inventories:
        assert ours(path) == ansible_list(path), path


def _vault_string(tmp_path: Path, name: str, value: str) -> str:
    password = tmp_path / "vault-pass"
    password.write_text(VAULT_PASSWORD + "\n")
    vault = Path(ANSIBLE or "").with_name("ansible-vault")
    done = subprocess.run(
        [str(vault), "encrypt_string", "--vault-password-file", str(password), value, "--name", name],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(tmp_path),
        check=True,
    )
    return done.stdout


def test_vault_encrypted_password_from_ansible_vault(tmp_path: Path) -> None:
    from cas_conformance.inventory.for_run import load_for_run
    from cas_conformance.settings import Secret, host_settings

    encrypted = _vault_string(tmp_path, "ansible_password", "Vaulted-Pass1")
    user = _vault_string(tmp_path, "ansible_user", "svc-vaulted")
    write(tmp_path, {"hosts.yml": "all:\n  hosts:\n    cas1.corp:\n", "group_vars/all.yml": encrypted + user})
    source = tmp_path / "hosts.yml"
    pw = str(tmp_path / "vault-pass")
    mine = ours(source, "--vault-password-file", pw)
    assert mine == ansible_list(source, "--vault-password-file", pw)
    assert "Vaulted-Pass1" not in json.dumps(mine)

    inventory = load_for_run(str(source), vault_password_file=pw, environ={})
    host = inventory.hosts["cas1.corp"]
    assert "ansible_password" not in host.vars  # only as a Secret
    assert host.vars["ansible_user"] == "svc-vaulted"
    settings = host_settings(inventory, host, password=None)
    assert settings.password == Secret("Vaulted-Pass1")
    assert "Vaulted-Pass1" not in repr(inventory) + repr(settings)
    # The environment variable is the other way to name the password file.
    env_inventory = load_for_run(str(source), environ={"ANSIBLE_VAULT_PASSWORD_FILE": pw})
    assert env_inventory.hosts["cas1.corp"].secrets["ansible_password"] == Secret("Vaulted-Pass1")


def test_wrong_or_missing_vault_password_is_a_usage_error_at_the_line(tmp_path: Path) -> None:
    encrypted = _vault_string(tmp_path, "ansible_password", "Vaulted-Pass1")
    write(
        tmp_path,
        {"hosts.yml": "all:\n  hosts:\n    cas1.corp:\n", "group_vars/all.yml": "x: 1\n" + encrypted},
    )
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    done = inventory_list(tmp_path / "hosts.yml", "--vault-password-file", str(wrong))
    assert done.returncode == 4
    assert (
        f"{tmp_path / 'group_vars' / 'all.yml'}:2: ansible_password: the Vault password does not decrypt"
        in done.stderr
    )
    assert "Traceback" not in done.stderr

    from cas_conformance.errors import InventoryError
    from cas_conformance.inventory.for_run import load_for_run

    with pytest.raises(InventoryError) as caught:
        load_for_run(str(tmp_path / "hosts.yml"), environ={})
    assert caught.value.line == 2 and "--vault-password-file" in caught.value.message


def test_dynamic_inventory_script_goes_through_ansible_inventory(tmp_path: Path) -> None:
    script = tmp_path / "dynamic.py"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json\n"
        "print(json.dumps({'cas': {'hosts': ['cas1', 'cas2'], 'vars': {'ansible_port': 5986}},"
        " '_meta': {'hostvars': {'cas1': {'ansible_user': 'svc'}}}}))\n"
    )
    script.chmod(0o755)
    assert ours(script) == ansible_list(script)


@pytest.mark.parametrize(
    "pattern",
    [
        "all",
        "*",
        "cas",
        "exchange:!mbx-*",
        "cas,top",
        "cas:&exchange",
        "~w[13]",
        "cas[0]",
        "cas[1:3]",
        "cas[-1]",
        "mbx-?",
        "cas01.corp.example.com",
        "!cas",
        "&cas",
    ],
)
def test_limit_selects_what_ansible_selects(tmp_path: Path, pattern: str) -> None:
    write(tmp_path, RANGES_AND_LITERALS)
    source = tmp_path / "hosts.ini"
    theirs = ansible_list(source, "--limit", pattern)
    assert ours(source, "--limit", pattern) == theirs
    assert theirs["_meta"]["hostvars"]  # type: ignore[index]


def test_limit_from_a_file_and_a_pattern_matching_nothing(tmp_path: Path) -> None:
    write(tmp_path, RANGES_AND_LITERALS)
    source = tmp_path / "hosts.ini"
    (tmp_path / "limit.txt").write_text("top\nw1\n")
    at = f"@{tmp_path / 'limit.txt'}"
    assert ours(source, "--limit", at) == ansible_list(source, "--limit", at)
    done = inventory_list(source, "--limit", "nope")
    assert done.returncode == 4 and "matches no host" in done.stderr


def _encrypted_group_vars(tmp_path: Path, group: str, text: str) -> Path:
    """``group_vars/<group>.yml`` holding *text*, encrypted whole with ``ansible-vault encrypt``;
    returns the Vault password file."""
    password = tmp_path / "vault-pass"
    password.write_text(VAULT_PASSWORD + "\n")
    target = tmp_path / "group_vars" / f"{group}.yml"
    write(tmp_path, {f"group_vars/{group}.yml": text})
    vault = Path(ANSIBLE or "").with_name("ansible-vault")
    subprocess.run(
        [str(vault), "encrypt", "--vault-password-file", str(password), str(target)],
        capture_output=True,
        timeout=120,
        env=_env(tmp_path),
        check=True,
    )
    assert target.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    return password


def test_whole_file_vault_group_vars_as_ansible_reads_them(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "[cas]\ncas1\n"})
    password = _encrypted_group_vars(tmp_path, "cas", "ansible_user: svc\nwinrm_timeout: 30\n")
    source = tmp_path / "hosts.ini"
    mine = ours(source, "--vault-password-file", str(password))
    assert mine == ansible_list(source, "--vault-password-file", str(password))
    assert mine["_meta"]["hostvars"]["cas1"] == {"ansible_user": "svc", "winrm_timeout": 30}  # type: ignore[index]


def test_a_dynamic_source_gets_the_vault_password_for_encrypted_group_vars(tmp_path: Path) -> None:
    """ansible-inventory reads group_vars beside a dynamic script; a whole-file encrypted one needs
    the Vault password, which the suite passes on (in a private file, removed afterwards)."""
    script = tmp_path / "dynamic.py"
    script.write_text(
        f"#!{sys.executable}\nimport json\n"
        "print(json.dumps({'cas': {'hosts': ['cas1']}, '_meta': {'hostvars': {}}}))\n"
    )
    script.chmod(0o755)
    password = _encrypted_group_vars(tmp_path, "cas", "ansible_user: svc\nwinrm_timeout: 30\n")
    mine = ours(script, "--vault-password-file", str(password))
    assert mine == ansible_list(script, "--vault-password-file", str(password))
    assert mine["_meta"]["hostvars"]["cas1"] == {"ansible_user": "svc", "winrm_timeout": 30}  # type: ignore[index]
    without = inventory_list(script)
    assert without.returncode == 4 and "ansible-inventory failed" in without.stderr
    assert not list(Path(tempfile.gettempdir()).glob("cas-conformance-vault-*"))


def test_failing_dynamic_inventory_is_a_usage_error_and_its_password_has_no_line(tmp_path: Path) -> None:
    from cas_conformance.errors import InventoryError
    from cas_conformance.inventory import load_inventory
    from cas_conformance.settings import resolve_password

    broken = tmp_path / "broken.py"
    broken.write_text(f"#!{sys.executable}\nimport sys\nsys.exit(3)\n")
    broken.chmod(0o755)
    with pytest.raises(InventoryError) as caught:
        load_inventory(broken)
    assert caught.value.path == str(broken) and "ansible-inventory failed" in caught.value.message

    script = tmp_path / "dynamic.py"
    script.write_text(
        f"#!{sys.executable}\nimport json\n"
        "print(json.dumps({'cas': {'hosts': ['cas1']}, '_meta': {'hostvars': {'cas1': {'ansible_password': 'p'}}}}))\n"
    )
    script.chmod(0o755)
    warnings: list[str] = []
    resolve_password(load_inventory(script), environ={}, ask=None, warn=warnings.append)
    assert warnings and warnings[0].startswith(f"ansible_password in {script} stores")

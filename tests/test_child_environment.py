"""No child process of the suite inherits a password: a dynamic inventory source (and the
ansible-inventory that runs it) and a Vault password script see no password variable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cas_conformance.inventory import load_inventory
from cas_conformance.inventory.child_environment import child_environment
from cas_conformance.inventory.external import ansible_inventory_command
from cas_conformance.inventory.vault import read_password_file

PASSWORDS = {
    "CAS_CONFORMANCE_PASSWORD": "winrm-Secret-1",
    "CASPROBE_PASSWORD": "probe-Secret-2",  # probe_credentials = CASPROBE
}


def _dumping_script(folder: Path, dump: Path, output: str) -> Path:
    """An executable that writes its environment to *dump* (JSON) and prints *output*."""
    script = folder / "dump-env.py"
    script.write_text(
        f"#!{sys.executable}\nimport json, os\n"
        f"open({str(dump)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
        f"print({output!r})\n"
    )
    script.chmod(0o755)
    return script


def _assert_no_password(dump: Path) -> None:
    text = dump.read_text()
    seen = json.loads(text)
    assert "CASPROBE_USER" in seen  # the rest of the environment is passed on
    for name, value in PASSWORDS.items():
        assert name not in seen
        assert value not in text


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PASSWORDS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CASPROBE_USER", "probe@contoso.lab")


def test_child_environment_drops_password_variables() -> None:
    env = child_environment({**PASSWORDS, "PATH": "/bin", "ANSIBLE_VAULT_PASSWORD_FILE": "/f"}, EXTRA="1")
    assert env == {"PATH": "/bin", "ANSIBLE_VAULT_PASSWORD_FILE": "/f", "EXTRA": "1"}


@pytest.mark.skipif(
    ansible_inventory_command() is None, reason="ansible-core (the test extra) is not installed"
)
@pytest.mark.usefixtures("passwords")
def test_a_dynamic_inventory_source_sees_no_password(tmp_path: Path) -> None:
    dump = tmp_path / "env.json"
    inventory = json.dumps({"cas": {"hosts": ["cas1"]}, "_meta": {"hostvars": {}}})
    script = _dumping_script(tmp_path, dump, inventory)
    assert list(load_inventory(script).hosts) == ["cas1"]
    _assert_no_password(dump)


@pytest.mark.usefixtures("passwords")
def test_a_vault_password_script_sees_no_password(tmp_path: Path) -> None:
    dump = tmp_path / "env.json"
    script = _dumping_script(tmp_path, dump, "vault-pass")
    assert read_password_file(str(script)) == b"vault-pass"
    _assert_no_password(dump)

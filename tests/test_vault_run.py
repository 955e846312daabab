"""A run whose inventory holds a Vault-encrypted password: a wrong or missing Vault password stops
it before anything starts, with the file and line of the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_conformance.inventory import vault
from tests.report.suite_runs import run_suite


def _inventory(root: Path) -> Path:
    encrypted = vault.encrypt("Vaulted-Pass1", b"right-password").replace("\n", "\n    ")
    (root / "group_vars").mkdir()
    (root / "group_vars" / "all.yml").write_text(
        f"winrm_timeout: 5\nansible_password: !vault |\n    {encrypted}\n"
    )
    path = root / "prod.ini"
    path.write_text("cas01.contoso.invalid\n")
    return path


@pytest.mark.parametrize("given", [None, "wrong-password"])
def test_wrong_or_missing_vault_password_is_a_usage_error(
    pytester: pytest.Pytester, given: str | None
) -> None:
    inventory = _inventory(pytester.path)
    args: list[str] = []
    if given is not None:
        (pytester.path / "vault-pass").write_text(given + "\n")
        args = ["--vault-password-file", str(pytester.path / "vault-pass")]
    result = run_suite(pytester, *args, inventory=inventory).result
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"{pytester.path / 'group_vars' / 'all.yml'}:2: ansible_password" in err
    assert ("does not decrypt" if given else "--vault-password-file") in err
    assert "Traceback" not in err + result.stdout.str() and "Vaulted-Pass1" not in err + result.stdout.str()

"""The Kerberos inventory variables: parsed once, bad values are usage errors at their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_conformance.errors import InventoryError
from cas_conformance.inventory import parse_inventory
from cas_conformance.settings import HostSettings, host_settings
from cas_conformance.settings.kerberos import KerberosSettings


def _settings(tmp_path: Path, text: str) -> HostSettings:
    path = tmp_path / "inventory.ini"
    path.write_text(text, encoding="utf-8")
    inventory = parse_inventory(text, str(path))
    return host_settings(inventory, inventory.hosts["cas01.contoso.com"], password=None)


def test_kerberos_variables(tmp_path: Path) -> None:
    (tmp_path / "krb5.conf").write_text("[libdefaults]\n", encoding="utf-8")
    settings = _settings(
        tmp_path,
        "cas01.contoso.com ansible_user=admin@CONTOSO.COM\n[all:vars]\n"
        "ansible_winrm_transport = kerberos\nkerberos_config = krb5.conf\nkerberos_realm = contoso.com\n"
        "kerberos_kdc = dc1.contoso.com, dc2.contoso.com:88\nansible_winrm_kinit_mode = manual\n"
        "ansible_winrm_kerberos_delegation = yes\nansible_winrm_kerberos_hostname_override = cas01.contoso.com\n",
    )
    assert settings.kerberos == KerberosSettings(
        config=str(tmp_path / "krb5.conf"),
        realm="CONTOSO.COM",
        kdcs=("dc1.contoso.com", "dc2.contoso.com:88"),
        kinit_mode="manual",
        delegation=True,
        hostname_override="cas01.contoso.com",
    )
    assert "kerberos_realm" not in settings.extra


def test_defaults_read_the_system_configuration(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "cas01.contoso.com\n[all:vars]\nansible_winrm_transport = kerberos\n")
    assert settings.kerberos == KerberosSettings()  # managed kinit, HTTP/<host>, /etc/krb5.conf


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ansible_user = CONTOSO\\\\admin", "Kerberos needs the principal, user@REALM"),
        ("kerberos_kdc = dc1", "kerberos_kdc needs kerberos_realm"),
        ("kerberos_realm = bad realm", "not a Kerberos realm"),
        ("ansible_winrm_kinit_mode = auto", "not one of managed, manual"),
        ("ansible_winrm_kerberos_delegation = maybe", "not yes or no"),
        ("kerberos_config = missing.conf", "not a readable file"),
    ],
)
def test_bad_values_are_usage_errors_at_their_line(tmp_path: Path, line: str, expected: str) -> None:
    with pytest.raises(InventoryError) as caught:
        _settings(tmp_path, f"cas01.contoso.com\n[all:vars]\nansible_winrm_transport = kerberos\n{line}\n")
    assert "inventory.ini:4: " in str(caught.value) and expected in str(caught.value)


@pytest.mark.parametrize(
    ("transport", "powershell_auth", "kerberos"),
    [
        ("kerberos", "ntlm", True),
        ("ntlm", "kerberos", True),
        ("ntlm", "negotiate", True),  # SPNEGO tries Kerberos first: the realm and KDCs count
        ("ntlm", "ntlm", False),
    ],
)
def test_the_kerberos_variables_count_wherever_kerberos_may_log_on(
    tmp_path: Path, transport: str, powershell_auth: str, kerberos: bool
) -> None:
    settings = _settings(
        tmp_path,
        "cas01.contoso.com\n[all:vars]\n"
        f"ansible_winrm_transport = {transport}\nexchange_powershell_auth = {powershell_auth}\n"
        "exchange_powershell_scheme = https\nkerberos_realm = contoso.com\nkerberos_kdc = dc1.contoso.com\n",
    )
    assert settings.uses_kerberos is kerberos
    expected = (
        KerberosSettings(realm="CONTOSO.COM", kdcs=("dc1.contoso.com",)) if kerberos else KerberosSettings()
    )
    assert settings.kerberos == expected

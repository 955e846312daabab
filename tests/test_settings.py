"""Typed settings from the inventory: defaults, parsing, each validation error's line, and Secret."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cas_conformance.channels.connect_to import ConnectToRule
from cas_conformance.errors import InventoryError
from cas_conformance.inventory import Inventory, parse_inventory
from cas_conformance.settings import (
    DEFAULT_POLLING_REGISTRY_KEY,
    HostSettings,
    Secret,
    host_settings,
    resolve_password,
    run_settings,
)
from tests.ca_bundle import PEM_BUNDLE

PASSWORD = "Pa55-w0rd-never-shown"


def parse(text: str, path: str = "site/inventory.ini") -> Inventory:
    return parse_inventory(textwrap.dedent(text).lstrip("\n"), path)


def settings_of(inv: Inventory, name: str, password: Secret | None = None) -> HostSettings:
    return host_settings(inv, inv.hosts[name], password=password)


def test_defaults_for_a_bare_host() -> None:
    settings = settings_of(parse("cas1.corp.local\n"), "cas1.corp.local")
    assert settings == HostSettings(
        name="cas1.corp.local",
        address="cas1.corp.local",
        port=None,
        user=None,
        transport="ntlm",
        scheme="https",
        cert_validation=True,
        ca_trust_path=None,
        password=None,
        dns_domain="corp.local",
        dns_servers=(),
        smtp_domains=("corp.local",),
        winhttp_proxy=None,
        outlook2003_clients="none",
        outlook2003_encryption_enforced=False,
        tls_ca_bundle=None,
        cert_expiry_warning_days=30,
        eventlog_lookback_days=7,
        probe_credentials=None,
        polling_registry_key=DEFAULT_POLLING_REGISTRY_KEY,
        connect_to=(),
        winrm_timeout=120.0,
        dns_timeout=5.0,
        http_timeout=15.0,
        extra={},
    )
    assert settings.winrm_port == 5986


@pytest.mark.parametrize(
    ("line", "domain"),
    [
        ("cas1", None),
        ("10.0.0.5", None),
        ("cas1 ansible_host=cas1.emea.corp.local", "emea.corp.local"),
        ("cas1.corp.local ansible_host=10.0.0.5", "corp.local"),
        ("cas1.corp.local dns_domain=other.example.", "other.example"),
    ],
)
def test_dns_domain_default(line: str, domain: str | None) -> None:
    inv = parse(line + "\n")
    settings = settings_of(inv, next(iter(inv.hosts)))
    assert settings.dns_domain == domain
    assert settings.smtp_domains == ((domain,) if domain else ())


def test_every_variable_parsed(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "roots.pem").write_text(PEM_BUNDLE, encoding="utf-8")
    (tmp_path / "winrm-ca.pem").write_text(PEM_BUNDLE, encoding="utf-8")
    inv = parse(
        """
        [cas]
        cas1.corp.local ansible_host=[::1] ansible_port=5985 ansible_user=admin@CORP.LOCAL
        [cas:vars]
        ansible_winrm_transport = Kerberos
        ansible_winrm_scheme = http
        ansible_winrm_server_cert_validation = ignore
        ansible_winrm_ca_trust_path = winrm-ca.pem
        dns_servers = 127.0.0.1:5353, 10.0.0.1 ,[::1]:5300, fe80::1
        smtp_domains = contoso.com, Contoso.com, fabrikam.com
        winhttp_proxy = proxy.corp.local:8080
        outlook2003_clients = online
        outlook2003_encryption = enforced
        tls_ca_bundle = pki/roots.pem
        cert_expiry_warning_days = 0
        eventlog_lookback_days = 14
        probe_credentials = CAS_PROBE
        polling_registry_key = HKLM:\\SOFTWARE\\Test
        connect_to = :443:127.0.0.2:8443
        winrm_timeout = 30
        dns_timeout = 0.5
        http_timeout = 2.
        ansible_connection = winrm
        site_note = kept verbatim
        """,
        path=str(tmp_path / "inventory.ini"),
    )
    settings = settings_of(inv, "cas1.corp.local")
    assert settings.address == "::1"
    assert (settings.port, settings.winrm_port, settings.user) == (5985, 5985, "admin@CORP.LOCAL")
    assert (settings.transport, settings.scheme, settings.cert_validation) == ("kerberos", "http", False)
    assert settings.ca_trust_path == str(tmp_path / "winrm-ca.pem")
    assert settings.dns_servers == (("127.0.0.1", 5353), ("10.0.0.1", 53), ("::1", 5300), ("fe80::1", 53))
    assert settings.smtp_domains == ("contoso.com", "fabrikam.com")
    assert settings.winhttp_proxy == "proxy.corp.local:8080"
    assert (settings.outlook2003_clients, settings.outlook2003_encryption_enforced) == ("online", True)
    assert settings.tls_ca_bundle == str(tmp_path / "pki" / "roots.pem")
    assert (settings.cert_expiry_warning_days, settings.eventlog_lookback_days) == (0, 14)
    assert settings.probe_credentials == "CAS_PROBE"
    assert settings.polling_registry_key == "HKLM:\\SOFTWARE\\Test"
    assert settings.connect_to == (ConnectToRule(None, 443, "127.0.0.2", 8443),)
    assert (settings.winrm_timeout, settings.dns_timeout, settings.http_timeout) == (30.0, 0.5, 2.0)
    assert dict(settings.extra) == {"ansible_connection": "winrm", "site_note": "kept verbatim"}


def test_winhttp_proxy_none_and_outlook_encryption_none() -> None:
    inv = parse("h1.corp.local winhttp_proxy=NONE outlook2003_encryption=none outlook2003_clients=cached\n")
    settings = settings_of(inv, "h1.corp.local")
    assert settings.winhttp_proxy is None
    assert settings.outlook2003_encryption_enforced is False
    assert settings.outlook2003_clients == "cached"


def test_empty_smtp_domains_and_dns_servers_mean_none_and_system() -> None:
    inv = parse("h1.corp.local\n[all:vars]\nsmtp_domains =\ndns_servers =\n")
    settings = settings_of(inv, "h1.corp.local")
    assert (settings.smtp_domains, settings.dns_servers) == ((), ())


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("ansible_port", "0", "1-65535"),
        ("ansible_port", "5986x", "1-65535"),
        ("ansible_port", "٥٩٨٦", "1-65535"),
        ("ansible_host", "", "not a host name"),
        ("ansible_winrm_transport", "negotiate", "ntlm, kerberos, credssp, basic"),
        ("ansible_winrm_scheme", "ftp", "https, http"),
        ("ansible_winrm_server_cert_validation", "no", "validate, ignore"),
        ("ansible_winrm_ca_trust_path", "missing.pem", "not a readable file"),
        ("dns_domain", "bad_domain!", "not a DNS name"),
        ("dns_domain", "-x.corp", "not a DNS name"),
        ("dns_servers", "10.0.0.1, dns.corp.local", "not ip[:port]"),
        ("dns_servers", "10.0.0.1:0", "port number"),
        ("dns_servers", "[::1]:x", "port number"),
        ("dns_servers", "[dns]:53", "not ip[:port]"),
        ("smtp_domains", "contoso.com, not valid", "not a DNS name"),
        ("winhttp_proxy", "", "or none"),
        ("winhttp_proxy", "a b", "or none"),
        ("outlook2003_clients", "sometimes", "none, online, cached"),
        ("outlook2003_encryption", "enforce", "enforced, none"),
        ("tls_ca_bundle", "nope/roots.pem", "not a readable file"),
        ("cert_expiry_warning_days", "-1", "from 0 to 3650"),
        ("cert_expiry_warning_days", "thirty", "from 0 to 3650"),
        ("eventlog_lookback_days", "0", "from 1 to 3650"),
        ("eventlog_lookback_days", "3651", "from 1 to 3650"),
        ("eventlog_lookback_days", "7.5", "from 1 to 3650"),
        ("probe_credentials", "CAS-PROBE", "environment variable prefix"),
        ("polling_registry_key", "SYSTEM\\CurrentControlSet", "registry path"),
        ("polling_registry_key", "HKLM:\\x'; Remove-Item C:\\", "registry path"),
        ("polling_registry_key", "HKLM:\\x\u2019; Remove-Item C:\\", "registry path"),
        ("polling_registry_key", "HKLM\\SYSTEM", "registry path"),
        ("winhttp_proxy", "proxy:8080`n", "or none"),
        ("connect_to", "a:443:b", "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT"),
        ("connect_to", "::b:99999", "port number"),
        ("winrm_timeout", "0", "positive number of seconds"),
        ("dns_timeout", "nan", "positive number of seconds"),
        ("http_timeout", "inf", "positive number of seconds"),
        ("http_timeout", "-1", "positive number of seconds"),
        ("http_timeout", "1e309", "positive number of seconds"),
        ("winrm_timeout", "86401", "positive number of seconds"),
        ("failback_addresses", "10.0.0.5, lb.contoso.com", "not an IP address"),
        ("failback_addresses", "10.0.0.256", "not an IP address"),
    ],
)
def test_invalid_values_point_at_the_winning_line(var: str, value: str, fragment: str) -> None:
    # The value is set in all:vars (line 3, valid-looking) and overridden in [cas:vars] (line 7).
    inv = parse(
        f"""
        [cas]
        cas1.corp.local ansible_password={PASSWORD}
        [all:vars]
        unrelated = 1
        [cas:vars]
        other = 2
        {var} = "{value}"
        """
    )
    with pytest.raises(InventoryError) as caught:
        settings_of(inv, "cas1.corp.local")
    error = caught.value
    assert error.line == 7
    assert error.message.startswith(f"invalid {var}: ")
    assert fragment in error.message
    assert PASSWORD not in str(error)


def test_failback_addresses_from_a_group_or_a_host_line() -> None:
    inv = parse(
        """
        [cas]
        cas1.corp.local failback_addresses=10.1.0.9
        cas2.corp.local
        [cas:vars]
        failback_addresses = 10.0.0.5, ,fe80::1, 10.0.0.5
        """
    )
    assert settings_of(inv, "cas1.corp.local").failback_addresses == ("10.1.0.9",)
    assert settings_of(inv, "cas2.corp.local").failback_addresses == ("10.0.0.5", "fe80::1")
    assert settings_of(parse("cas3\n"), "cas3").failback_addresses == ()


def test_host_line_value_wins_and_errors_there() -> None:
    inv = parse(
        """
        [all:vars]
        dns_timeout = 3
        [cas]
        cas1 dns_timeout=zero
        """
    )
    with pytest.raises(InventoryError, match=r"^site/inventory.ini:4: invalid dns_timeout: 'zero'"):
        settings_of(inv, "cas1")


def test_run_settings_read_all_vars_only(tmp_path: Path) -> None:
    (tmp_path / "roots.pem").write_text(PEM_BUNDLE, encoding="utf-8")
    inv = parse(
        """
        [published]
        mail.contoso.com
        [published:vars]
        dns_timeout = 9
        [all:vars]
        dns_domain = contoso.com
        dns_servers = 127.0.0.1:5353
        tls_ca_bundle = roots.pem
        connect_to = :443:127.0.0.1:8443
        http_timeout = 3
        probe_credentials = PROBE
        cert_expiry_warning_days = 60
        eventlog_lookback_days = 3
        polling_registry_key = HKLM:\\SOFTWARE\\Lab
        winhttp_proxy = this is ignored: no server-side setting here
        """,
        path=str(tmp_path / "inventory.ini"),
    )
    settings = run_settings(inv)
    assert settings.dns_domain == "contoso.com"
    assert settings.smtp_domains == ("contoso.com",)
    assert settings.dns_servers == (("127.0.0.1", 5353),)
    assert settings.tls_ca_bundle == str(tmp_path / "roots.pem")
    assert settings.connect_to == (ConnectToRule(None, 443, "127.0.0.1", 8443),)
    assert (settings.dns_timeout, settings.http_timeout) == (5.0, 3.0)
    assert (settings.probe_credentials, settings.cert_expiry_warning_days) == ("PROBE", 60)
    assert (settings.eventlog_lookback_days, settings.polling_registry_key) == (3, "HKLM:\\SOFTWARE\\Lab")


def test_run_settings_defaults_and_errors() -> None:
    settings = run_settings(parse("[published]\nmail.contoso.com\n"))
    assert (settings.dns_domain, settings.smtp_domains, settings.dns_servers) == (None, (), ())
    assert (settings.eventlog_lookback_days, settings.polling_registry_key) == (
        7,
        DEFAULT_POLLING_REGISTRY_KEY,
    )
    inv = parse("[all:vars]\n# c\ndns_servers = 127.0.0.1:53:53\n")
    with pytest.raises(InventoryError) as caught:
        run_settings(inv)
    assert caught.value.line == 3 and "dns_servers" in caught.value.message


# --- passwords ----------------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret(PASSWORD)
    assert secret.reveal() == PASSWORD
    views = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>30}",
        "%s" % secret,  # noqa: UP031 - logging formats this way
        "%r" % (secret,),  # noqa: UP031
    ]
    views += [repr([secret]), repr({"p": secret})]
    for view in views:
        assert PASSWORD not in view
        assert "***" in view
    assert repr(secret) == "Secret('***')"


def test_secret_equality_and_hash_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2
    assert Secret("\udc80") == Secret("\udc80")


def test_settings_use_the_run_password_else_the_hosts_own() -> None:
    inv = parse(f"h1.corp.local ansible_password={PASSWORD}\nh2.corp.local\n")
    assert settings_of(inv, "h1.corp.local").password == Secret(PASSWORD)
    assert settings_of(inv, "h2.corp.local").password is None
    assert settings_of(inv, "h1.corp.local", Secret("from-env")).password == Secret("from-env")


def test_password_absent_from_reprs_and_errors() -> None:
    inv = parse(f"h1.corp.local ansible_password={PASSWORD} ansible_become_password={PASSWORD}x\n")
    settings = settings_of(inv, "h1.corp.local")
    assert "ansible_password" not in settings.extra
    assert settings.extra["ansible_become_password"] == PASSWORD + "x"
    for shown in (repr(settings), str(settings), repr(inv), repr(settings.password)):
        assert PASSWORD not in shown
    bad = parse(f"h1.corp.local ansible_password={PASSWORD} dns_timeout=x\n")
    with pytest.raises(InventoryError) as caught:
        settings_of(bad, "h1.corp.local")
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)


class Recorder:
    """A real callable standing in for the prompt and the warning sink, recording its calls."""

    def __init__(self, answer: str = "") -> None:
        self.answer = answer
        self.calls: list[str] = []

    def ask(self) -> str:
        self.calls.append("ask")
        return self.answer

    def warn(self, message: str) -> None:
        self.calls.append(message)


def test_resolve_password_environment_first() -> None:
    inv = parse(f"h1 ansible_password={PASSWORD}\n")
    rec = Recorder("typed")
    secret = resolve_password(inv, environ={"CAS_CONFORMANCE_PASSWORD": "env"}, ask=rec.ask, warn=rec.warn)
    assert secret == Secret("env")
    assert rec.calls == []


def test_resolve_password_prompt_second() -> None:
    inv = parse(f"h1 ansible_password={PASSWORD}\n")
    rec = Recorder("typed")
    secret = resolve_password(inv, environ={"CAS_CONFORMANCE_PASSWORD": ""}, ask=rec.ask, warn=rec.warn)
    assert secret == Secret("typed")
    assert rec.calls == ["ask"]


def test_resolve_password_inventory_password_warns_once_with_its_line() -> None:
    inv = parse(
        f"""
        h0
        [cas]
        cas1
        cas2 ansible_password={PASSWORD}
        [cas:vars]
        ansible_password = {PASSWORD}
        """
    )
    rec = Recorder()
    assert resolve_password(inv, environ={}, ask=None, warn=rec.warn) is None
    assert len(rec.calls) == 1
    assert "ansible_password in site/inventory.ini:4" in rec.calls[0]
    assert "CAS_CONFORMANCE_PASSWORD" in rec.calls[0] and "--ask-pass" in rec.calls[0]
    assert PASSWORD not in rec.calls[0]


def test_resolve_password_nothing_anywhere() -> None:
    rec = Recorder()
    assert resolve_password(parse("h1\n"), environ={}, ask=None, warn=rec.warn) is None
    assert rec.calls == []


def test_basic_over_plain_http_for_remote_powershell_is_a_usage_error_at_its_line() -> None:
    inv = parse(
        """
        [all:vars]
        exchange_powershell_auth = basic
        exchange_powershell_scheme = http
        [cas]
        cas1
        """
    )
    pattern = (
        r"^site/inventory.ini:3: invalid exchange_powershell_scheme: exchange_powershell_auth = basic needs"
    )
    with pytest.raises(InventoryError, match=pattern):
        settings_of(inv, "cas1")
    with pytest.raises(InventoryError, match=pattern):
        run_settings(inv)
    https = parse("[all:vars]\nexchange_powershell_auth = basic\n[cas]\ncas1\n")
    assert settings_of(https, "cas1").exchange_powershell_scheme == "https"
    kerberos = parse(
        "[all:vars]\nexchange_powershell_scheme = http\nansible_winrm_kinit_mode = manual\n[cas]\ncas1\n"
    )
    assert settings_of(kerberos, "cas1").kerberos.kinit_mode == "manual"  # read for remote PowerShell too


def test_the_plan_builds_every_setting_once_with_the_password(tmp_path: Path) -> None:
    from cas_conformance.channels.kerberos import Krb5Config
    from cas_conformance.run.plan import InventorySource, plan_run

    inv = parse(
        """
        [all:vars]
        ansible_user = labadmin@CONTOSO.COM
        kerberos_realm = CONTOSO.COM
        kerberos_kdc = dc1.contoso.com
        [cas]
        cas1.contoso.com
        cas2.contoso.com ansible_winrm_transport=kerberos
        [published]
        mail.contoso.com
        """,
        path="site/inventory.ini",
    )
    source = InventorySource.at("site/inventory.ini", tmp_path)
    assert source == InventorySource("site/inventory.ini", str(tmp_path / "site" / "inventory.ini"))
    plan = plan_run(inv, password=Secret(PASSWORD), source=source)
    assert list(plan.hosts) == ["cas1.contoso.com", "cas2.contoso.com"]
    assert plan.published == ("mail.contoso.com",)
    assert all(h.password == Secret(PASSWORD) for h in plan.hosts.values())
    assert plan.run == run_settings(inv)
    # one name for the inventory in every output: the facts file writes the plan's inventory's
    assert plan.inventory.path == source.resolved and plan.inventory.hosts == inv.hosts
    # both hosts may log on with Kerberos (/PowerShell's default); the realm's KDCs are configured
    assert plan.krb5 == (Krb5Config(realm="CONTOSO.COM", kdcs=("dc1.contoso.com",)),) * 2
    assert PASSWORD not in repr(plan)


def test_the_plan_stops_at_the_first_bad_value_then_at_a_missing_password() -> None:
    from cas_conformance.run.plan import plan_run

    bad = parse(
        "[all:vars]\nwinrm_timeout = 5\ndns_timeout = soon\n[cas]\ncas1.contoso.com winrm_timeout=x\n"
    )
    with pytest.raises(InventoryError) as caught:  # all:vars first
        plan_run(bad, password=Secret(PASSWORD))
    assert (caught.value.path, caught.value.line) == ("site/inventory.ini", 3)
    without = parse("[cas]\ncas1.contoso.com\ncas2.contoso.com\n[published]\nmail.contoso.com\n")
    with pytest.raises(
        InventoryError, match=r"no WinRM password for cas1\.contoso\.com and 1 other"
    ) as caught:
        plan_run(without, password=None)
    assert (caught.value.path, caught.value.line) == ("site/inventory.ini", 2)
    assert plan_run(parse("[published]\nmail.contoso.com\n"), password=None).hosts == {}

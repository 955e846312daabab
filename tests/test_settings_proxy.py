"""winhttp_proxy: the forms ``netsh winhttp set proxy`` takes for one proxy (``host[:port]``) or
``none``; a URL or a per-scheme list is refused at its line, naming the accepted form; and whether
the variable is set at all (unset: PROXY-01 reports the proxy in effect and judges nothing)."""

from __future__ import annotations

import textwrap

import pytest

from cas_conformance.errors import InventoryError
from cas_conformance.inventory import parse_inventory
from cas_conformance.settings import HostSettings, Secret, host_settings
from cas_conformance.settings.values import proxy

FORMS = "give host:port such as proxy.contoso.com:8080"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("proxy.contoso.com:8080", "proxy.contoso.com:8080"),
        ("  proxy.contoso.com:8080 ", "proxy.contoso.com:8080"),
        ("proxy", "proxy"),  # netsh's `set proxy myproxy`: port 80
        ("10.0.0.8:3128", "10.0.0.8:3128"),
        ("[fe80::1]:8080", "[fe80::1]:8080"),
        ("none", None),
        ("NONE", None),
    ],
)
def test_a_proxy_in_netsh_form_or_none_is_accepted(text: str, value: str | None) -> None:
    assert proxy(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://proxy.contoso.com:8080", "a URL is not a WinHTTP proxy (write proxy.contoso.com:8080): "),
        ("HTTP://proxy.contoso.com:8080/", "a URL is not a WinHTTP proxy (write proxy.contoso.com:8080): "),
        ("https://proxy.contoso.com:443", "a URL is not a WinHTTP proxy: "),
        ("http://user:secret@proxy:8080", "a URL is not a WinHTTP proxy: "),
        ("http=proxy:8080;https=proxy:8080", "'http=proxy:8080;https=proxy:8080' is not a WinHTTP proxy: "),
        ("proxy:0", "'proxy:0' is not a WinHTTP proxy: "),
        ("proxy:", "'proxy:' is not a WinHTTP proxy: "),
        ("fe80::1:8080", "'fe80::1:8080' is not a WinHTTP proxy: "),
        ("[10.0.0.8]:80", "'[10.0.0.8]:80' is not a WinHTTP proxy: "),
        ("[fe80::1%a'b]:80", '"[fe80::1%a\'b]:80" is not a WinHTTP proxy: '),
        ("proxy:8080`n", "'proxy:8080`n' is not a WinHTTP proxy: "),
        ("", "'' is not a WinHTTP proxy: "),
    ],
)
def test_any_other_form_is_refused_naming_the_accepted_ones(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        proxy(text)
    assert str(raised.value).startswith(message)
    assert FORMS in str(raised.value) and "or none for direct access" in str(raised.value)
    assert "secret" not in str(raised.value)


def _settings(text: str, host: str = "cas1.corp.local") -> HostSettings:
    inv = parse_inventory(textwrap.dedent(text).lstrip("\n"), "site/inventory.ini")
    return host_settings(inv, inv.hosts[host], password=Secret("pw"))


def test_unset_is_not_declared_and_none_is_declared_direct_access() -> None:
    text = """
        [cas]
        cas1.corp.local
        cas2.corp.local winhttp_proxy=none
        cas3.corp.local winhttp_proxy=proxy.corp.local:8080
        """
    found = {
        name: _settings(text, name) for name in ("cas1.corp.local", "cas2.corp.local", "cas3.corp.local")
    }
    assert {name: (s.winhttp_proxy, s.winhttp_proxy_declared) for name, s in found.items()} == {
        "cas1.corp.local": (None, False),
        "cas2.corp.local": (None, True),
        "cas3.corp.local": ("proxy.corp.local:8080", True),
    }


def test_set_for_the_run_declares_it_for_every_host() -> None:
    settings = _settings("[cas]\ncas1.corp.local\n[all:vars]\nwinhttp_proxy = none\n")
    assert (settings.winhttp_proxy, settings.winhttp_proxy_declared) == (None, True)


def test_a_url_is_refused_at_its_line() -> None:
    with pytest.raises(InventoryError) as raised:
        _settings("[cas]\ncas1.corp.local\n[all:vars]\nwinhttp_proxy = http://proxy.corp.local:8080\n")
    assert raised.value.line == 4
    assert raised.value.message.startswith("invalid winhttp_proxy: a URL is not a WinHTTP proxy")

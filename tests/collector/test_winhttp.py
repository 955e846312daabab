"""The WinHttpSettings registry decoder and the netsh text parser, on published values: the layout
and samples Microsoft's HealthChecker decodes (microsoft/CSS-Exchange, Get-HttpProxySetting.ps1),
the never-configured value (craiglandis/Get-VMAgentHealth) and ``netsh winhttp show proxy`` as
https://learn.microsoft.com/windows-server/administration/windows-commands/netsh-winhttp shows it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cas_conformance.domain.winhttp import (
    DIRECT_ACCESS_HEX,
    WinHttpSettingsError,
    decode_winhttp_settings,
    encode_winhttp_settings,
    parse_netsh_show_proxy,
    read_winhttp_blob,
    split_bypass_list,
)


def _blob(proxy: bytes, bypass: bytes, version: int = 0x28, flags: int = 3) -> str:
    head = version.to_bytes(4, "little") + (7).to_bytes(4, "little") + flags.to_bytes(4, "little")
    return (
        head + len(proxy).to_bytes(4, "little") + proxy + len(bypass).to_bytes(4, "little") + bypass
    ).hex()


def test_never_configured_value_is_direct_access() -> None:
    assert DIRECT_ACCESS_HEX == "1800000000000000010000000000000000000000"
    assert decode_winhttp_settings("1800000000000000010000000000000000000000") == (None, ())


def test_value_after_netsh_reset_is_direct_access() -> None:
    assert decode_winhttp_settings("2800000003000000010000000000000000000000") == (None, ())


def test_missing_value_is_direct_access() -> None:
    assert decode_winhttp_settings("") == (None, ())


def test_proxy_with_bypass_list_as_healthchecker_decodes_it() -> None:
    hex_value = _blob(b"proxy.contoso.com:8080", b"localhost;*.contoso.com;*microsoft.com")
    assert decode_winhttp_settings(hex_value) == (
        "proxy.contoso.com:8080",
        ("localhost", "*.contoso.com", "*microsoft.com"),
    )
    assert decode_winhttp_settings(hex_value.upper())[0] == "proxy.contoso.com:8080"


def test_bypass_entries_split_on_semicolons_and_whitespace() -> None:
    hex_value = _blob(b"http=proxy:80;https=sproxy:88", b" <local> ;*.contoso.com\t10.* ;;")
    assert decode_winhttp_settings(hex_value) == (
        "http=proxy:80;https=sproxy:88",
        ("<local>", "*.contoso.com", "10.*"),
    )
    assert split_bypass_list("a; b\n c;;") == ("a", "b", "c")


def test_flags_without_proxy_type_proxy_mean_direct_access_despite_a_stored_proxy_string() -> None:
    stale = _blob(b"oldproxy.contoso.com:3128", b"<local>", flags=0x1)
    assert decode_winhttp_settings(stale) == (None, ())
    assert read_winhttp_blob(stale).stale_proxy == "oldproxy.contoso.com:3128"
    assert decode_winhttp_settings(_blob(b"proxy:80", b"", flags=0x2)) == ("proxy:80", ())
    assert read_winhttp_blob(_blob(b"proxy:80", b"")).stale_proxy is None
    assert encode_winhttp_settings("oldproxy:3128", ["<local>"], flags=0x1) == _blob(
        b"oldproxy:3128", b"<local>", flags=0x1
    ).replace("07000000", "00000000", 1)


def test_trailing_fields_after_the_bypass_list_are_ignored() -> None:
    hex_value = _blob(b"proxy:3128", b"") + "00000000" + "00" * 32
    assert decode_winhttp_settings(hex_value) == ("proxy:3128", ())


@pytest.mark.parametrize(
    ("hex_value", "words"),
    [
        ("180", "even number of hex digits"),
        ("zz", "even number of hex digits"),
        ("18000000000000000100", "before the proxy length at byte 12"),
        ("180000000000000003000000" + "ff000000" + "41", "runs past"),
        ("180000000000000003000000" + "ffffffff", "length -1"),
        (_blob(b"proxy:80", b"")[:-8], "before the bypass list length"),
        (_blob(b"pr\xf6xy:80", b""), "not ASCII"),
    ],
)
def test_malformed_values_raise(hex_value: str, words: str) -> None:
    with pytest.raises(WinHttpSettingsError, match=words):
        decode_winhttp_settings(hex_value)


def test_encoder_writes_what_the_decoder_reads() -> None:
    assert encode_winhttp_settings(None) == DIRECT_ACCESS_HEX
    value = encode_winhttp_settings("proxy.contoso.com:8080", ("*.contoso.com", "<local>"))
    assert value.startswith("28000000") and value[16:24] == "03000000"
    assert decode_winhttp_settings(value) == ("proxy.contoso.com:8080", ("*.contoso.com", "<local>"))


@pytest.mark.parametrize(
    ("proxy", "bypass"),
    [
        (None, ("*.contoso.com",)),
        ("", ()),
        ("pr\u00f6xy:80", ()),
        ("p:80", ("a;b",)),
        ("p:80", ("",)),
        ("p:80", ("a b",)),
    ],
)
def test_encoder_refuses_what_the_registry_cannot_hold(proxy: str | None, bypass: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        encode_winhttp_settings(proxy, bypass)


@given(
    st.from_regex(r"[!-~]{1,60}", fullmatch=True),
    st.lists(st.from_regex(r"[!-:<-~]{1,20}", fullmatch=True), max_size=5),
)
def test_encode_decode_round_trip(proxy: str, bypass: list[str]) -> None:
    assert decode_winhttp_settings(encode_winhttp_settings(proxy, bypass)) == (proxy, tuple(bypass))


def test_netsh_direct_access() -> None:
    text = "\r\nCurrent WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server).\r\n\r\n"
    assert parse_netsh_show_proxy(text) == (None, ())


def test_netsh_proxy_with_bypass_list() -> None:
    text = (
        "Current WinHTTP proxy settings:\n\n"
        "    Proxy Server(s) :  proxy.contoso.com:8080\n"
        "    Bypass List     :  *.contoso.com;<local>\n"
    )
    assert parse_netsh_show_proxy(text) == ("proxy.contoso.com:8080", ("*.contoso.com", "<local>"))


def test_netsh_proxy_without_bypass_list() -> None:
    text = "Current WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  http=p:80;https=s:88\r\n    Bypass List     :  (none)\r\n"
    assert parse_netsh_show_proxy(text) == ("http=p:80;https=s:88", ())
    assert parse_netsh_show_proxy("Proxy Server(s) : p:80") == ("p:80", ())


@pytest.mark.parametrize(
    "text",
    [
        "Aktuelle WinHTTP-Proxyeinstellungen:\n\n    Direkter Zugriff (kein Proxyserver).",
        "Current WinHTTP proxy settings:\n\n    Proxy Server(s) :  \n",
        "",
    ],
)
def test_netsh_text_that_is_not_understood_raises(text: str) -> None:
    with pytest.raises(WinHttpSettingsError, match="localised"):
        parse_netsh_show_proxy(text)

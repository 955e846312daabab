"""PROXY-01/02 on hand-built facts: the WinHTTP proxy as the inventory declares it, and a bypass
list that covers every Exchange server, each failure with the netsh command for the real server
(every existing entry kept); direct access needs no bypass list; unread WinHTTP is an error."""

from __future__ import annotations

import pytest

from cas_conformance.checks import FactsUnavailable, NotApplicable
from cas_conformance.domain.facts import ExchangeServer, SectionError
from cas_conformance.evidence.view import EvidenceView
from tests.checks.world_builder import SP3, Cas, judge, world

PROXY = "winhttp_proxy=proxy.contoso.lab:8080"


def one(**cas: object) -> EvidenceView:
    return world(Cas("CAS01", **cas))  # type: ignore[arg-type]


# --- PROXY-01 ---------------------------------------------------------------------------------


DIRECT = "winhttp_proxy=none"
NOT_JUDGED = "no declared proxy (winhttp_proxy not set): the setting in effect is reported, not judged"


@pytest.mark.parametrize(
    ("proxy", "host_vars"),
    [
        ("proxy.contoso.lab:8080", PROXY),
        ("http=proxy.contoso.lab:8080;https=proxy.contoso.lab:8080", PROXY),
        ("PROXY.contoso.lab:8080", PROXY),
        (None, DIRECT),
    ],
)
def test_proxy01_the_declared_proxy_or_declared_direct_access_passes(
    proxy: str | None, host_vars: str
) -> None:
    finding = judge(one(proxy=proxy, host_vars=host_vars), "PROXY-01", "cas01")
    assert finding.passed, finding.message()


def test_proxy01_another_proxy_than_the_declared_one_fails_with_the_declared_proxy_in_the_fix() -> None:
    finding = judge(one(proxy="other.contoso.lab:3128", host_vars=PROXY), "PROXY-01", "cas01")
    assert not finding.passed
    assert finding.observed == "proxy other.contoso.lab:3128, bypass <local>;*.contoso.lab"
    assert finding.expected == "proxy proxy.contoso.lab:8080 (winhttp_proxy)"
    assert 'proxy-server="http=proxy.contoso.lab:8080"' in finding.remediation


def test_proxy01_direct_access_where_a_proxy_is_declared_fails_with_netsh() -> None:
    finding = judge(one(proxy=None, host_vars=PROXY), "PROXY-01", "cas01")
    assert not finding.passed
    assert finding.object == "WinHTTP proxy of CAS01"
    assert finding.observed == "direct access (no proxy server)"
    assert finding.remediation == (
        'netsh winhttp set proxy proxy-server="http=proxy.contoso.lab:8080" bypass-list="<local>;*.contoso.lab"'
        "   # on CAS01, elevated"
    )


def test_proxy01_a_proxy_where_direct_access_is_declared_fails_with_reset() -> None:
    finding = judge(one(host_vars=DIRECT), "PROXY-01", "cas01")
    assert not finding.passed and finding.expected == "direct access (winhttp_proxy = none)"
    assert finding.remediation == "netsh winhttp reset proxy   # on CAS01, elevated"


@pytest.mark.parametrize(
    ("proxy", "in_effect"),
    [
        ("proxy.contoso.lab:8080", "proxy proxy.contoso.lab:8080, bypass <local>;*.contoso.lab"),
        (None, "direct access (no proxy server)"),
    ],
)
def test_proxy01_an_undeclared_proxy_is_reported_not_judged(proxy: str | None, in_effect: str) -> None:
    """No winhttp_proxy (for the host or the run): nothing to compare with, so no verdict and no
    fix; the setting in effect is reported, as observed and in the reason."""
    with pytest.raises(NotApplicable) as raised:
        judge(one(proxy=proxy), "PROXY-01", "cas01")
    reason = raised.value.reason
    assert reason.startswith("winhttp_proxy is not set, so no proxy is declared to compare with")
    assert f"in effect on CAS01: {in_effect} (read from the WinHttpSettings registry value" in reason
    assert dict(raised.value.details) == {"observed": in_effect, "expected": NOT_JUDGED}
    assert "reset" not in reason and "netsh winhttp set" not in reason


def test_proxy01_an_undeclared_proxy_on_one_host_is_judged_where_another_declares_it() -> None:
    """The declaration is per host (Ansible precedence): declaring it for one host judges that host only."""
    w = world(Cas("CAS01"), Cas("CAS02", host_vars=DIRECT))
    with pytest.raises(NotApplicable, match="winhttp_proxy is not set"):
        judge(w, "PROXY-01", "cas01")
    assert not judge(w, "PROXY-01", "cas02").passed


def test_proxy01_does_not_apply_to_exchange_2013() -> None:
    with pytest.raises(NotApplicable, match="migration in progress"):
        judge(one(version="Version 15.0 (Build 1497.2)"), "PROXY-01", "cas01")


def test_proxy01_unread_winhttp_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="WinHTTP proxy failed: denied"):
        judge(one(errors=(SectionError("winhttp", "denied"),)), "PROXY-01", "cas01")


def test_proxy01_unreported_winhttp_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="did not report the WinHTTP proxy"):
        judge(one(extra={"winhttp": None}), "PROXY-01", "cas01")


# --- PROXY-02 ---------------------------------------------------------------------------------


def test_proxy02_a_bypass_covering_every_server_passes() -> None:
    w = world(Cas("CAS01", host_vars=PROXY), Cas("MBX01", client_access=False))
    finding = judge(w, "PROXY-02", "cas01")
    assert finding.passed, finding.message()


def test_proxy02_an_uncovered_server_fails_and_the_fix_keeps_existing_entries() -> None:
    w = world(Cas("CAS01", host_vars=PROXY, bypass=("*.fabrikam.com",)), Cas("MBX01", client_access=False))
    finding = judge(w, "PROXY-02", "cas01")
    assert not finding.passed
    assert finding.object == "WinHTTP bypass list of CAS01"
    assert finding.observed == "*.fabrikam.com; not covered (2): cas01.contoso.lab, mbx01.contoso.lab"
    assert finding.remediation == (
        'netsh winhttp set proxy proxy-server="http=proxy.contoso.lab:8080" '
        'bypass-list="<local>;*.fabrikam.com;*.contoso.lab"   # on CAS01, elevated'
    )


def test_proxy02_direct_access_does_not_apply() -> None:
    with pytest.raises(NotApplicable, match="CAS01 uses direct access"):
        judge(one(proxy=None), "PROXY-02", "cas01")


def test_proxy02_unread_winhttp_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="denied"):
        judge(one(errors=(SectionError("winhttp", "denied"),)), "PROXY-02", "cas01")


def test_proxy02_an_organisation_without_fqdns_is_an_error() -> None:
    no_fqdn = ExchangeServer(
        "CAS01", "", "contoso.lab/Configuration/Sites/HQ", ("ClientAccess",), True, False, SP3
    )
    with pytest.raises(FactsUnavailable, match="listed no server FQDNs"):
        judge(one(extra={"servers": (no_fqdn,)}), "PROXY-02", "cas01")


def test_proxy02_names_a_bounded_list_however_large_the_organisation() -> None:
    """Each server's line is about every server: at 2,000 servers it must not list them all."""
    servers = [Cas(f"EX{i:04d}", client_access=False) for i in range(1, 41)]
    w = world(Cas("CAS01", host_vars=PROXY, bypass=("*.fabrikam.com",)), *servers)
    finding = judge(w, "PROXY-02", "cas01")
    assert "(41 servers: cas01.contoso.lab, ex0001.contoso.lab," in finding.expected
    assert finding.expected.count(".contoso.lab") == 10 and "and 31 more" in finding.expected
    assert finding.observed.endswith("and 31 more") and "not covered (41)" in finding.observed


def test_world_shows_itself_in_a_line() -> None:
    """A test's traceback prints its arguments: the EvidenceView must not render the organisation."""
    servers = [Cas(f"EX{i:04d}", client_access=False) for i in range(1, 41)]
    text = repr(world(Cas("CAS01", host_vars=PROXY), *servers))
    assert text.startswith("EvidenceView(Evidence(41 servers,") and len(text) < 200, text

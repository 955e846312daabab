"""A proxy nobody declared is reported, not judged: the healthy lab, whose servers all use a WinHTTP
proxy, with winhttp_proxy taken out of its inventory (the fault mechanism, real sockets). The
declared-mismatch faults still failing PROXY-01 are in the fault matrix (winhttp-proxy-missing,
winhttp-proxy-flags-direct)."""

from __future__ import annotations

from cas_conformance.checks import NotApplicable
from tests.lab.conftest import run_lab


def test_an_undeclared_proxy_is_reported_on_every_server_and_fails_nothing() -> None:
    verdicts = run_lab(["healthy-winhttp-proxy-undeclared"])
    proxy01 = {v.case: v for v in verdicts if v.requirement == "PROXY-01"}
    assert proxy01 and {v.outcome for v in proxy01.values()} == {"skipped"}, {
        case: v.detail for case, v in proxy01.items()
    }
    for verdict in proxy01.values():
        assert isinstance(verdict.without, NotApplicable)
        assert "winhttp_proxy is not set" in verdict.detail
        assert "proxy proxy.contoso.lab:8080, bypass <local>;" in verdict.detail
        assert dict(verdict.without.details)["observed"].startswith("proxy proxy.contoso.lab:8080")
    # the bypass lists are still judged against the proxy in effect
    assert {v.outcome for v in verdicts if v.requirement == "PROXY-02"} == {"passed"}
    assert not [v.detail for v in verdicts if v.outcome in ("failed", "error")]

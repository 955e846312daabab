"""PROXY-01/02: the WinHTTP proxy (section "Troubleshoot Certificate Wizard errors")."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import FactsUnavailable, Finding, NotApplicable, check, cmd_quoted, one_line
from cas_conformance.collector.winhttp import WinHttpSettingsError, parse_netsh_show_proxy
from cas_conformance.facts import WinHttpSettings
from cas_conformance.world import ServerRecord, World


def _winhttp(rec: ServerRecord) -> WinHttpSettings:
    facts = rec.require()
    error = facts.section_error("winhttp")
    if error is not None:
        raise FactsUnavailable(f"{rec.host}: reading the WinHTTP proxy failed: {error.message}")
    if facts.winhttp is None:
        raise FactsUnavailable(f"{rec.host}: the collector did not report the WinHTTP proxy")
    return facts.winhttp


def _proxy_entries(proxy: str) -> set[str]:
    """``http=p:8080;https=p:8080`` or ``p:8080`` -> {"p:8080"} (scheme prefixes dropped)."""
    entries = set()
    for part in proxy.replace(" ", ";").split(";"):
        part = part.strip()
        if part:
            entries.add(part.split("=", 1)[-1].lower())
    return entries


def _dns_domain(rec: ServerRecord) -> str:
    domain = rec.settings.dns_domain
    if not domain:
        raise FactsUnavailable(
            f"{rec.host}: no dns_domain (set it in the inventory or use the server's FQDN)"
        )
    return domain


def set_proxy_command(proxy: str, bypass: tuple[str, ...], domain: str) -> str:
    wanted = f"*.{domain}"
    entries = [cmd_quoted(e) for e in bypass]
    if not any(e.lower() == "<local>" for e in entries):
        entries.insert(0, "<local>")
    if not any(e.lower() == wanted.lower() for e in entries):
        entries.append(wanted)
    return f'netsh winhttp set proxy proxy-server="http={proxy}" bypass-list="{";".join(entries)}"'


def _notes(winhttp: WinHttpSettings) -> tuple[str, ...]:
    netsh = " ".join(winhttp.netsh_text.split())
    notes = [f"netsh winhttp show proxy: {netsh or '(no text)'}"]

    try:
        shown_proxy, shown_bypass = parse_netsh_show_proxy(winhttp.netsh_text)
    except WinHttpSettingsError:
        notes.append(
            "the netsh text could not be read (not English?): the WinHttpSettings registry value decides"
        )
        return tuple(notes)
    if (shown_proxy or None) != (winhttp.proxy or None) or tuple(shown_bypass) != tuple(winhttp.bypass_list):
        notes.append(
            "the netsh text and the WinHttpSettings registry value disagree: the registry value wins"
        )
    return tuple(notes)


@check("PROXY-01", subjects.servers)
def winhttp_proxy_as_declared(world: World, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    winhttp = _winhttp(rec)
    declared = rec.settings.winhttp_proxy
    observed = f"proxy {winhttp.proxy}" if winhttp.proxy else "direct access (no proxy server)"
    if winhttp.proxy and winhttp.bypass_list:
        observed += f", bypass {';'.join(winhttp.bypass_list)}"
    if declared is None:
        passed = not winhttp.proxy
        expected = "direct access (winhttp_proxy = none)"
        fix = "netsh winhttp reset proxy"
    else:
        passed = bool(winhttp.proxy) and declared.lower() in _proxy_entries(winhttp.proxy or "")
        expected = f"proxy {declared} (winhttp_proxy)"
        fix = set_proxy_command(declared, winhttp.bypass_list, _dns_domain(rec))
    return Finding(
        "PROXY-01",
        key,
        f"WinHTTP proxy of {local.name}",
        passed,
        observed,
        expected,
        why=""
        if passed
        else "certificate revocation checks (CRL/OCSP) and other system calls go "
        "through WinHTTP: without the right proxy Get-ExchangeCertificate shows RevocationCheckFailure",
        notes=_notes(winhttp),
        remediation=fix + f"   # on {one_line(local.name)}, elevated",
    )


@check("PROXY-02", subjects.servers)
def winhttp_bypass_has_domain(world: World, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    winhttp = _winhttp(rec)
    if not winhttp.proxy:
        raise NotApplicable(
            f"{local.name} uses direct access (no WinHTTP proxy, so no bypass list is needed)"
        )
    domain = _dns_domain(rec)
    wanted = f"*.{domain}".lower()
    passed = any(e.lower() == wanted for e in winhttp.bypass_list)
    proxy = rec.settings.winhttp_proxy or sorted(_proxy_entries(winhttp.proxy))[0]
    return Finding(
        "PROXY-02",
        key,
        f"WinHTTP bypass list of {local.name}",
        passed,
        ";".join(winhttp.bypass_list) or "(none)",
        f"contains *.{domain}",
        why=""
        if passed
        else "the Management Shell and Console reach Remote PowerShell on "
        f"*.{domain} through the proxy and fail",
        notes=_notes(winhttp),
        remediation=set_proxy_command(proxy, winhttp.bypass_list, domain)
        + f"   # on {one_line(local.name)}, elevated",
    )

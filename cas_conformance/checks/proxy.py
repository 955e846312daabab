"""The WinHTTP proxy and its bypass list (section "Troubleshoot Certificate Wizard errors")."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import (
    FactsUnavailable,
    Finding,
    NotApplicable,
    check,
    cmd_quoted,
    one_line,
    some_names,
)
from cas_conformance.checks.winhttp_bypass import LOCAL, covering_entry, uncovered
from cas_conformance.domain.catalogue import SECTION_CERT, Requirement, Severity
from cas_conformance.domain.facts import WinHttpSettings
from cas_conformance.domain.winhttp import WinHttpSettingsError, parse_netsh_show_proxy, read_winhttp_blob
from cas_conformance.evidence.view import EvidenceView, ServerRecord


def _winhttp(rec: ServerRecord) -> WinHttpSettings:
    facts = rec.require()
    error = facts.section_error("winhttp")
    if error is not None:
        raise FactsUnavailable(f"{rec.host}: reading the WinHTTP proxy failed: {error.message}")
    if facts.winhttp is None:
        raise FactsUnavailable(f"{rec.host}: the collector did not report the WinHTTP proxy")
    return facts.winhttp


UNDECLARED = "no declared proxy (winhttp_proxy not set): the setting in effect is reported, not judged"


def _proxy_entries(proxy: str) -> set[str]:
    """``http=p:8080;https=p:8080`` or ``p:8080`` -> {"p:8080"} (scheme prefixes dropped)."""
    entries = set()
    for part in proxy.replace(" ", ";").split(";"):
        part = part.strip()
        if part:
            entries.add(part.split("=", 1)[-1].lower())
    return entries


def recommended_entry(fqdn: str) -> str:
    """The reference's entry for a server: ``*.<second-level>.<first-level>`` of its FQDN
    (``ex01.corp.contoso.com`` -> ``*.contoso.com``); a name with fewer labels is listed as is."""
    labels = fqdn.rstrip(".").split(".")
    return "*." + ".".join(labels[-2:]) if len(labels) > 2 else fqdn


def _netsh_set_proxy(proxy: str, entries: list[str]) -> str:
    quoted = ";".join(cmd_quoted(e) for e in entries)
    return f'netsh winhttp set proxy proxy-server="http={proxy}" bypass-list="{quoted}"'


def _with_local(bypass: tuple[str, ...]) -> list[str]:
    entries = list(bypass)
    if not any(e.lower() == LOCAL for e in entries):
        entries.insert(0, LOCAL)
    return entries


def set_proxy_command(proxy: str, bypass: tuple[str, ...], domain: str) -> str:
    """netsh that keeps every existing entry and adds ``<local>`` and ``*.<domain>``."""
    entries = _with_local(bypass)
    if not any(e.lower() == f"*.{domain}".lower() for e in entries):
        entries.append(f"*.{domain}")
    return _netsh_set_proxy(proxy, entries)


def bypass_fix_command(proxy: str, bypass: tuple[str, ...], fqdns: tuple[str, ...]) -> str:
    """netsh that keeps every existing entry, adds ``<local>`` and, for each FQDN the list does not
    cover yet, the reference's ``*.<second-level>.<first-level>`` entry."""
    entries = _with_local(bypass)
    for fqdn in uncovered(entries, fqdns):
        if covering_entry(entries, fqdn) is None:  # an entry added for an earlier one may cover it
            entries.append(recommended_entry(fqdn))
    return _netsh_set_proxy(proxy, entries)


def _notes(winhttp: WinHttpSettings) -> tuple[str, ...]:
    netsh = " ".join(winhttp.netsh_text.split())
    notes = [f"netsh winhttp show proxy: {netsh or '(no text)'}"]
    stale = read_winhttp_blob(winhttp.registry_hex).stale_proxy
    if stale is not None:
        notes.append(
            f"WinHttpSettings stores the proxy string {stale} but its flags say direct access "
            "(PROXY_TYPE_PROXY 0x02 not set): WinHTTP does not use it"
        )
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


@check(
    Requirement(
        "PROXY-01",
        "WinHTTP proxy in effect (WinHttpSettings flags honoured) matches the declared proxy",
        Severity.CRITICAL,
        SECTION_CERT,
    ),
    subjects.servers,
)
def winhttp_proxy_as_declared(world: EvidenceView, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    winhttp = _winhttp(rec)
    declared = rec.settings.winhttp_proxy
    observed = f"proxy {winhttp.proxy}" if winhttp.proxy else "direct access (no proxy server)"
    if winhttp.proxy and winhttp.bypass_list:
        observed += f", bypass {';'.join(winhttp.bypass_list)}"
    stale = read_winhttp_blob(winhttp.registry_hex).stale_proxy
    if stale is not None:
        observed += f" (WinHttpSettings flags say direct access; the stored proxy string {stale} is unused)"
    if not rec.settings.winhttp_proxy_declared:
        # Not a pass: nothing was asserted. The value in effect is reported (drift between peers is
        # DRIFT-04's), and no fix is offered for a setting nobody declared.
        read_from = "; ".join(("read from the WinHttpSettings registry value", *_notes(winhttp)[1:]))
        raise NotApplicable(
            f"winhttp_proxy is not set, so no proxy is declared to compare with; in effect on "
            f"{local.name}: {observed} ({read_from})",
            (("observed", observed), ("expected", UNDECLARED)),
        )
    if declared is None:
        passed = not winhttp.proxy
        expected = "direct access (winhttp_proxy = none)"
        fix = "netsh winhttp reset proxy"
    else:
        passed = bool(winhttp.proxy) and declared.lower() in _proxy_entries(winhttp.proxy or "")
        expected = f"proxy {declared} (winhttp_proxy)"
        fix = bypass_fix_command(declared, winhttp.bypass_list, _org_fqdns(world, rec))
    return Finding(
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


def _org_fqdns(world: EvidenceView, rec: ServerRecord) -> tuple[str, ...]:
    """The FQDN of every Exchange server of the organisation (from Get-ExchangeServer)."""
    fqdns = tuple(dict.fromkeys(s.fqdn for s in world.org_servers() if s.fqdn))
    if not fqdns:
        raise FactsUnavailable(f"{rec.host}: Get-ExchangeServer listed no server FQDNs")
    return fqdns


@check(
    Requirement(
        "PROXY-02",
        "WinHTTP bypass list covers every Exchange server's FQDN (WinHTTP matching)",
        Severity.CRITICAL,
        SECTION_CERT,
    ),
    subjects.servers,
)
def winhttp_bypass_covers_exchange_servers(world: EvidenceView, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    winhttp = _winhttp(rec)
    if not winhttp.proxy:
        raise NotApplicable(
            f"{local.name} uses direct access (no WinHTTP proxy, so no bypass list is needed)"
        )
    fqdns = _org_fqdns(world, rec)
    missing = uncovered(winhttp.bypass_list, fqdns)
    passed = not missing
    proxy = rec.settings.winhttp_proxy or sorted(_proxy_entries(winhttp.proxy))[0]
    servers = f"{len(fqdns)} server{'s' if len(fqdns) != 1 else ''}: {some_names(fqdns)}"
    return Finding(
        key,
        f"WinHTTP bypass list of {local.name}",
        passed,
        (";".join(winhttp.bypass_list) or "(none)")
        + ("" if passed else f"; not covered ({len(missing)}): {some_names(missing)}"),
        f"covers every Exchange server of the organisation ({servers}) under WinHTTP's "
        "matching (';' or space separated, any case, '*' spans dots, <local> = dotless names only)",
        why=""
        if passed
        else "the Management Shell and Console reach Remote PowerShell on "
        f"{some_names(missing)} through the proxy and fail",
        notes=_notes(winhttp),
        remediation=bypass_fix_command(proxy, winhttp.bypass_list, fqdns)
        + f"   # on {one_line(local.name)}, elevated",
    )

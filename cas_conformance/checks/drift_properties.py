r"""What the drift requirements compare across a peer group, read from each member's facts, and the
command that sets an odd member to the value most members have (with the real identities, quoted).

Command forms: the Set-*VirtualDirectory cmdlets take ``-Identity "<server>\<vdir> (<site>)"``
and ``-InternalUrl``/``-ExternalUrl`` (learn.microsoft.com, Set-OabVirtualDirectory example 1:
``-ExternalUrl "https://www.contoso.com/OAB"``); Set-OutlookAnywhere's Exchange 2010 example is
``-Identity:CAS01\Rpc (Default Web Site) -ClientAuthenticationMethod:Ntlm``; Enable-OutlookAnywhere
needs ``-SSLOffloading`` in Exchange 2010
(https://learn.microsoft.com/powershell/module/exchangepowershell/enable-outlookanywhere);
``netsh winhttp set proxy proxy-server="..." bypass-list="..."`` and ``netsh winhttp reset proxy``
as https://learn.microsoft.com/windows-server/administration/windows-commands/netsh-winhttp has them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from cas_conformance.checks.base import FactsUnavailable, cmd_quoted, cmd_word, one_line, ps_string, ps_word
from cas_conformance.checks.peer_groups import Seen, Value
from cas_conformance.domain.facts import (
    ExchangeCertificate,
    OutlookAnywhere,
    ServerFacts,
    ServerVersion,
    VdirKind,
    VirtualDirectory,
)
from cas_conformance.domain.winhttp import split_bypass_list
from cas_conformance.evidence.view import host_of

OWN_NAME = "(own name)"
NOT_SET = "(not set)"
NONE = "(none)"
DIRECT = "(direct)"
BUILD_NUMBERS = "https://learn.microsoft.com/en-us/exchange/new-features/build-numbers-and-release-dates"


@dataclass(frozen=True)
class Fix:
    """Where an odd member stands and what most members have."""

    odd: Seen
    majority: str  # the majority's comparison key
    reference: Seen  # a member that has the majority value


@dataclass(frozen=True)
class Property:
    name: str  # the test id part: owa-internal-host
    label: str
    value: Callable[[Seen], Value]
    fix: Callable[[Fix], str]
    hint: str  # the cmdlet that sets it, for a remediation without a majority


def _facts(seen: Seen, section: str, what: str) -> ServerFacts:
    facts = seen.rec.require()
    error = facts.section_error(section)
    if error is not None:
        raise FactsUnavailable(f"{seen.rec.host}: reading {what} failed: {error.message}")
    return facts


def _own(seen: Seen, host: str) -> bool:
    return host.lower().rstrip(".") in (seen.server.fqdn.lower(), seen.server.name.lower())


def _host_value(seen: Seen, hosts: list[str]) -> Value:
    """Host names compared with a member's own name folded in: members whose InternalUrl names
    themselves (the Exchange 2010 default) agree with each other."""
    keys, texts = [], []
    for host in hosts:
        if not host:
            keys.append(NOT_SET)
            texts.append("not set")
        elif _own(seen, host):
            keys.append(OWN_NAME)
            texts.append(f"{host} (its own name)")
        else:
            keys.append(host)
            texts.append(host)
    key = ",".join(sorted(set(keys)))
    common = ", ".join(
        dict.fromkeys("each member's own name" if k == OWN_NAME else k for k in sorted(set(keys)))
    )
    return Value(key, ", ".join(dict.fromkeys(texts)), common if OWN_NAME in keys or NOT_SET in keys else "")


def _target_host(fix: Fix) -> str | None:
    if "," in fix.majority or fix.majority == NOT_SET:
        return None
    return fix.odd.server.fqdn.lower() if fix.majority == OWN_NAME else fix.majority


# --- virtual directories -------------------------------------------------------------------------

_VDIR_CMDLETS = (
    (VdirKind.OWA, "owa", "OWA", "Set-OwaVirtualDirectory"),
    (VdirKind.ECP, "ecp", "ECP", "Set-EcpVirtualDirectory"),
    (VdirKind.EWS, "ews", "EWS", "Set-WebServicesVirtualDirectory"),
    (VdirKind.OAB, "oab", "OAB", "Set-OabVirtualDirectory"),
    (VdirKind.ACTIVESYNC, "activesync", "ActiveSync", "Set-ActiveSyncVirtualDirectory"),
)


def _vdirs(seen: Seen, kind: VdirKind) -> list[VirtualDirectory]:
    return [v for v in _facts(seen, "vdir", "the virtual directories").vdirs if v.kind is kind]


def _url(vdir: VirtualDirectory, attr: str) -> str:
    return str(getattr(vdir, attr))


def _with_host(url: str, host: str) -> str:
    parts = urlsplit(url)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme or "https", netloc, parts.path, parts.query, parts.fragment))


def _vdir_property(kind: VdirKind, slug: str, label: str, cmdlet: str, scope: str) -> Property:
    attr, param = f"{scope}_url", f"{scope.capitalize()}Url"

    def value(seen: Seen) -> Value:
        vdirs = _vdirs(seen, kind)
        if not vdirs:
            return Value(f"(no {slug} virtual directory)", f"no {label} virtual directory")
        return _host_value(seen, [host_of(_url(v, attr)) for v in vdirs])

    def fix(fix: Fix) -> str:
        name = fix.odd.server.name
        vdirs = _vdirs(fix.odd, kind)
        if not vdirs:
            return f"# {one_line(name)} has no {label} virtual directory: create it (New-{cmdlet[4:]}), then set {param}"
        host = _target_host(fix)
        example = next((_url(v, attr) for v in _vdirs(fix.reference, kind) if _url(v, attr)), "")
        lines = []
        for vdir in vdirs:
            current = _url(vdir, attr)
            if fix.majority == NOT_SET:
                target = "$null"
            elif host is None or not (current or example):
                lines.append(
                    f"# set {param} of {one_line(vdir.identity)} as on {one_line(fix.reference.server.name)}"
                )
                continue
            else:
                target = ps_word(_with_host(current or example, host))
            lines.append(f"{cmdlet} -Identity {ps_string(vdir.identity)} -{param} {target}")
        return "\n".join(lines)

    return Property(f"{slug}-{scope}-host", f"{label} {param} host", value, fix, f"{cmdlet} -{param}")


# --- Outlook Anywhere ------------------------------------------------------------------------------


def _outlook_anywhere(seen: Seen) -> OutlookAnywhere | None:
    found = _facts(seen, "outlookanywhere", "Outlook Anywhere").outlook_anywhere
    return found[0] if found else None


_NOT_ENABLED = Value("(not enabled)", "Outlook Anywhere not enabled")


def _oa_host(seen: Seen) -> Value:
    oa = _outlook_anywhere(seen)
    return _NOT_ENABLED if oa is None else _host_value(seen, [oa.external_hostname.lower()])


def _oa_auth(seen: Seen) -> Value:
    oa = _outlook_anywhere(seen)
    return (
        _NOT_ENABLED
        if oa is None
        else Value(oa.client_authentication_method.lower(), oa.client_authentication_method)
    )


def _oa_fix(setting: str) -> Callable[[Fix], str]:
    def fix(fix: Fix) -> str:
        odd, ref = _outlook_anywhere(fix.odd), _outlook_anywhere(fix.reference)
        name = ps_word(fix.odd.server.name)
        if ref is None:
            assert odd is not None  # the majority has it off, so the odd member has it on
            return f"Disable-OutlookAnywhere -Identity {ps_string(odd.identity)}"
        host = _target_host(fix) if setting == "ExternalHostname" else None
        if odd is None:
            return (
                f"Enable-OutlookAnywhere -Server {name} -ExternalHostname {ps_word(host or ref.external_hostname)} "
                f"-ClientAuthenticationMethod {ps_word(ref.client_authentication_method)} "
                f"-SSLOffloading ${str(ref.ssl_offloading).lower()}"
            )
        if setting == "ExternalHostname":
            return f"Set-OutlookAnywhere -Identity {ps_string(odd.identity)} -ExternalHostname {ps_word(host or ref.external_hostname)}"
        return (
            f"Set-OutlookAnywhere -Identity {ps_string(odd.identity)} "
            f"-ClientAuthenticationMethod {ps_word(ref.client_authentication_method)}"
        )

    return fix


# --- RPC encryption, certificates, WinHTTP, build ------------------------------------------------------


def _rpc_encryption(seen: Seen) -> Value:
    rpc = _facts(seen, "rpcclientaccess", "Get-RpcClientAccess").rpc_client_access
    if rpc is None:
        raise FactsUnavailable(
            f"{seen.rec.host}: the collector reported no RPC Client Access settings for a CAS"
        )
    return Value(str(rpc.encryption_required).lower(), f"EncryptionRequired {rpc.encryption_required}")


def _rpc_fix(fix: Fix) -> str:
    return f"Set-RpcClientAccess -Server {ps_word(fix.odd.server.name)} -EncryptionRequired ${fix.majority}"


def iis_certificates(seen: Seen) -> list[ExchangeCertificate]:
    return [c for c in _facts(seen, "certificate", "the certificates").certificates if "IIS" in c.services]


def _names_key(names: tuple[str, ...]) -> str:
    return ",".join(sorted({n.lower().rstrip(".") for n in names}))


def _certificate_names(seen: Seen) -> Value:
    certs = iis_certificates(seen)
    if not certs:
        return Value(NONE, "no certificate assigned to IIS")
    names = tuple(n for c in certs for n in c.certificate_domains)
    return Value(_names_key(names), ", ".join(sorted({n.lower() for n in names})))


def _certificate_fix(fix: Fix) -> str:
    name = ps_word(fix.odd.server.name)
    if fix.majority == NONE:
        return f"# most members have no certificate assigned to IIS: check why {one_line(fix.odd.server.name)} has one"
    facts = fix.odd.rec.require()
    ready = [
        c
        for c in facts.certificates
        if _names_key(c.certificate_domains) == fix.majority and c.status == "Valid"
    ]
    if ready:
        return f"Enable-ExchangeCertificate -Server {name} -Thumbprint {ps_word(ready[0].thumbprint)} -Services IIS"
    ref = iis_certificates(fix.reference)[0]
    names = list(dict.fromkeys(ref.certificate_domains))
    return (
        f"# {one_line(fix.reference.server.name)} has it (thumbprint {one_line(ref.thumbprint)}); request one with "
        f"the same names for {one_line(fix.odd.server.name)}:\n"
        f"New-ExchangeCertificate -Server {name} -GenerateRequest -SubjectName {ps_string('CN=' + names[0])} "
        f"-DomainName {','.join(ps_word(n) for n in names)} -PrivateKeyExportable $true | Set-Content -Path <path.req>\n"
        f"# after the CA issues it: Import-ExchangeCertificate -Server {name} ..., then\n"
        f"Enable-ExchangeCertificate -Server {name} -Thumbprint <new> -Services IIS"
    )


def _winhttp(seen: Seen) -> tuple[str | None, tuple[str, ...]]:
    winhttp = _facts(seen, "winhttp", "the WinHTTP proxy").winhttp
    if winhttp is None:
        raise FactsUnavailable(f"{seen.rec.host}: the collector did not report the WinHTTP proxy")
    return winhttp.proxy or None, winhttp.bypass_list


def entry_set(entries: tuple[str, ...]) -> str:
    """A proxy or bypass list as a set of entries, case-insensitive (order and repeats ignored)."""
    return ";".join(sorted({e.strip().lower() for e in entries if e.strip()}))


def _proxy(seen: Seen) -> Value:
    proxy, _ = _winhttp(seen)
    if proxy is None:
        return Value(DIRECT, "direct access (no proxy server)")
    return Value(entry_set(split_bypass_list(proxy)), proxy)


def _bypass(seen: Seen) -> Value:
    proxy, bypass = _winhttp(seen)
    if proxy is None:
        return Value(DIRECT, "direct access (no bypass list applies)")
    return Value(entry_set(bypass) or NONE, ";".join(bypass) or "(none)")


def _winhttp_fix(fix: Fix) -> str:
    proxy, bypass = _winhttp(fix.reference)
    where = f"   # on {cmd_word(fix.odd.server.name)}, elevated (as on {cmd_word(fix.reference.server.name)})"
    if proxy is None:
        return "netsh winhttp reset proxy" + where
    command = f'netsh winhttp set proxy proxy-server="{cmd_quoted(proxy)}"'
    if bypass:
        command += f' bypass-list="{cmd_quoted(";".join(bypass))}"'
    return command + where


def _build(seen: Seen) -> Value:
    version = seen.server.version
    if version is None:
        return Value(seen.server.admin_display_version, seen.server.admin_display_version or "(unknown)")
    return Value(version.text, str(version))


def _order(version: ServerVersion) -> tuple[int, int, int, int]:
    return (version.major, version.minor, version.build, version.revision)


def _build_fix(fix: Fix) -> str:
    odd, ref = fix.odd.server, fix.reference.server
    target = ref.version.text if ref.version else ref.admin_display_version
    if odd.version and ref.version and _order(odd.version) > _order(ref.version):
        return (
            f"# {one_line(odd.name)} runs {odd.version.text}, newer than most members' {target}: "
            f"install {odd.version.text} on the other members ({BUILD_NUMBERS})"
        )
    return f"# install {target} on {one_line(odd.name)} (the build most members run; {BUILD_NUMBERS})"


# What each drift requirement compares, in its cases' order.
URLS_AND_OUTLOOK_ANYWHERE: tuple[Property, ...] = (
    *(
        _vdir_property(k, s, label, c, scope)
        for k, s, label, c in _VDIR_CMDLETS
        for scope in ("internal", "external")
    ),
    Property(
        "oa-external-host",
        "Outlook Anywhere ExternalHostname",
        _oa_host,
        _oa_fix("ExternalHostname"),
        "Set-OutlookAnywhere -ExternalHostname",
    ),
    Property(
        "oa-client-auth",
        "Outlook Anywhere ClientAuthenticationMethod",
        _oa_auth,
        _oa_fix("ClientAuthenticationMethod"),
        "Set-OutlookAnywhere -ClientAuthenticationMethod",
    ),
)
RPC_ENCRYPTION = (
    Property(
        "rpc-encryption",
        "RPC Client Access EncryptionRequired",
        _rpc_encryption,
        _rpc_fix,
        "Set-RpcClientAccess -EncryptionRequired",
    ),
)
CERTIFICATE_NAMES = (
    Property(
        "certificate-names",
        "names of the IIS certificate",
        _certificate_names,
        _certificate_fix,
        "Enable-ExchangeCertificate -Services IIS",
    ),
)
WINHTTP_PROXY = (
    Property("winhttp-proxy", "WinHTTP proxy", _proxy, _winhttp_fix, "netsh winhttp set proxy"),
    Property("winhttp-bypass", "WinHTTP bypass list", _bypass, _winhttp_fix, "netsh winhttp set proxy"),
)
EXCHANGE_BUILD = (
    Property("exchange-build", "Exchange build (AdminDisplayVersion)", _build, _build_fix, "Exchange setup"),
)
BY_NAME = {
    p.name: p
    for p in (
        *URLS_AND_OUTLOOK_ANYWHERE,
        *RPC_ENCRYPTION,
        *CERTIFICATE_NAMES,
        *WINHTTP_PROXY,
        *EXCHANGE_BUILD,
    )
}

"""CERT-01..03: Exchange certificates (section "Troubleshoot Certificate Wizard errors")."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import (
    FactsUnavailable,
    Finding,
    NotApplicable,
    check,
    one_line,
    ps_string,
    ps_word,
)
from cas_conformance.facts import ExchangeCertificate
from cas_conformance.world import ServerRecord, World, host_of


def _certificate(world: World, key: str) -> tuple[ServerRecord, ExchangeCertificate]:
    host, _, thumbprint = key.partition("|")
    rec = subjects.record(world, host)
    subjects.require_2010(rec)
    facts = rec.require()
    if facts.section_error("certificate"):
        raise FactsUnavailable(f"{host}: Get-ExchangeCertificate failed")
    for cert in facts.certificates:
        if cert.thumbprint == thumbprint:
            return rec, cert
    raise FactsUnavailable(f"certificate {thumbprint} is not in the facts of {host}")


def _label(cert: ExchangeCertificate) -> str:
    return f"{cert.thumbprint} ({cert.subject}; {', '.join(cert.services)})"


_BY_STATUS = {
    "DateInvalid": "renew the certificate: New-ExchangeCertificate -Server {server} -GenerateRequest ... then "
    "Import-ExchangeCertificate and Enable-ExchangeCertificate -Server {server} -Thumbprint <new> -Services {services}",
    "Untrusted": "install the issuing CA chain (root and intermediates) in the computer's certificate store of "
    "{server}, then check again: Get-ExchangeCertificate -Server {server} -Thumbprint {thumbprint} | fl Status",
    "Revoked": "replace the certificate: request and import a new one, then Enable-ExchangeCertificate -Server "
    "{server} -Thumbprint <new> -Services {services}",
    "Invalid": "replace the certificate: request and import a new one, then Enable-ExchangeCertificate -Server "
    "{server} -Thumbprint <new> -Services {services}",
    "PendingRequest": "complete the request: Import-ExchangeCertificate -Server {server} -FileData "
    "([Byte[]]$(Get-Content -Path <issued.cer> -Encoding Byte -ReadCount 0))",
}


def _revocation_fix(world: World, rec: ServerRecord, server: str) -> str:
    from cas_conformance.checks.proxy import set_proxy_command

    declared = rec.settings.winhttp_proxy
    winhttp = rec.facts.winhttp if rec.facts else None
    bypass = winhttp.bypass_list if winhttp else ()
    domain = rec.settings.dns_domain or "<dns_domain>"
    proxy_line = (
        set_proxy_command(declared, bypass, domain)
        if declared
        else 'netsh winhttp set proxy proxy-server="http=<proxy>" bypass-list="<local>;*.' + domain + '"'
    )
    return (
        f"# 1. let {one_line(server)} reach the CRL/OCSP URLs: fix the WinHTTP proxy (PROXY-01/02), elevated:\n"
        f"{proxy_line}\n"
        "# 2. clear the cached revocation answers:\n"
        "certutil -urlcache ocsp delete\n"
        "certutil -urlcache crl delete\n"
        f"# 3. restart {one_line(server)} and check again:\n"
        f"Get-ExchangeCertificate -Server {ps_word(server)} | fl Thumbprint,Status"
    )


@check("CERT-01", subjects.certificates)
def certificate_status_valid(world: World, key: str) -> Finding:
    rec, cert = _certificate(world, key)
    server = subjects.local_server(rec).name
    if cert.status == "RevocationCheckFailure":
        fix = _revocation_fix(world, rec, server)
    else:
        template = _BY_STATUS.get(cert.status, _BY_STATUS["Invalid"])
        fix = template.format(
            server=ps_word(server),
            thumbprint=ps_word(cert.thumbprint),
            services=",".join(ps_word(x) for x in cert.services),
        )
    passed = cert.status == "Valid"
    return Finding(
        "CERT-01",
        rec.host,
        _label(cert),
        passed,
        f"Status {cert.status or '(empty)'}",
        "Status Valid",
        why="" if passed else f"the certificate is assigned to {', '.join(cert.services)}",
        remediation=fix,
    )


def name_covered(name: str, patterns: tuple[str, ...]) -> bool:
    name = name.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


@check("CERT-02", subjects.servers)
def iis_certificate_covers_names(world: World, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    facts = rec.require()
    if not local.is_client_access:
        raise NotApplicable(f"{local.name} has no Client Access role (no virtual directories to cover)")
    if facts.section_error("certificate") or facts.section_error("vdir"):
        raise FactsUnavailable(f"{key}: certificates or virtual directories could not be read")
    needed: dict[str, str] = {}
    for vdir in facts.vdirs:
        for label, url in (
            ("InternalUrl", vdir.internal_url),
            ("ExternalUrl", vdir.external_url),
            ("FailbackUrl", vdir.failback_url),
        ):
            host = host_of(url)
            if host:
                needed.setdefault(host, f"{vdir.identity} {label}")
    for oa in facts.outlook_anywhere:
        if oa.external_hostname:
            needed.setdefault(oa.external_hostname.lower(), f"{oa.identity} ExternalHostname")
    iis = [c for c in facts.certificates if "IIS" in c.services]
    if not iis:
        return Finding(
            "CERT-02",
            key,
            f"IIS certificate of {local.name}",
            False,
            "no certificate assigned to IIS",
            f"a certificate assigned to IIS covering {', '.join(sorted(needed))}",
            remediation=f"Enable-ExchangeCertificate -Server {ps_word(local.name)} -Thumbprint <thumbprint> "
            "-Services IIS",
        )
    cert = max(iis, key=lambda c: c.not_after)
    missing = sorted(n for n in needed if not name_covered(n, cert.certificate_domains))
    # The new certificate keeps the current one's names (its first, usually the subject, first).
    all_names = list(dict.fromkeys([*cert.certificate_domains, *sorted(needed)]))
    return Finding(
        "CERT-02",
        key,
        _label(cert),
        not missing,
        "missing " + ", ".join(f"{n} ({needed[n]})" for n in missing)
        if missing
        else f"covers {', '.join(sorted(needed))}",
        f"every virtual directory and Outlook Anywhere host name in the certificate ({len(needed)} names)",
        why="" if not missing else "clients get a certificate name warning on those names",
        remediation=(
            f"New-ExchangeCertificate -Server {ps_word(local.name)} -GenerateRequest -SubjectName "
            f"{ps_string('CN=' + all_names[0])} -DomainName {','.join(ps_word(n) for n in all_names)} "
            "-PrivateKeyExportable $true "
            "-RequestFile <path.req>\n"
            f"# after the CA issues it: Import-ExchangeCertificate -Server {ps_word(local.name)} ... then\n"
            f"Enable-ExchangeCertificate -Server {ps_word(local.name)} -Thumbprint <new> -Services IIS"
        ),
    )


@check("CERT-03", subjects.certificates)
def certificate_not_expiring(world: World, key: str) -> Finding:
    rec, cert = _certificate(world, key)
    server = subjects.local_server(rec).name
    days = rec.settings.cert_expiry_warning_days
    left = (cert.not_after - world.now).total_seconds() / 86400
    passed = left > days
    observed = (
        f"expired on {cert.not_after.date().isoformat()}"
        if left < 0
        else f"expires on {cert.not_after.date().isoformat()} ({int(left)} days left)"
    )
    return Finding(
        "CERT-03",
        rec.host,
        _label(cert),
        passed,
        observed,
        f"more than {days} days of validity left (cert_expiry_warning_days)",
        remediation=f"renew it: New-ExchangeCertificate -Server {ps_word(server)} -GenerateRequest -DomainName "
        f"{','.join(ps_word(n) for n in cert.certificate_domains)} -PrivateKeyExportable $true -RequestFile <path.req>, then "
        f"Import-ExchangeCertificate and Enable-ExchangeCertificate -Server {ps_word(server)} -Thumbprint <new> "
        f"-Services {','.join(ps_word(x) for x in cert.services)}",
    )

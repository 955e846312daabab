"""Exchange certificates: status, the names IIS serves, expiry (section "Troubleshoot Certificate
Wizard errors")."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import (
    FactsUnavailable,
    Finding,
    NotApplicable,
    check,
    one_line,
    ps_word,
)
from cas_conformance.checks.certificate_request import iis_certificate, names_needed, replacement_commands
from cas_conformance.domain.catalogue import SECTION_CERT, Requirement, Severity
from cas_conformance.domain.facts import ExchangeCertificate
from cas_conformance.evidence.view import EvidenceView, ServerRecord


def _certificate(world: EvidenceView, key: str) -> tuple[ServerRecord, ExchangeCertificate]:
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


def _status_fix(world: EvidenceView, cert: ExchangeCertificate, server: str) -> str:
    """The fix for a certificate whose status is not Valid (other than a revocation check failure)."""
    if cert.status == "Untrusted":
        return (
            f"# by hand on {one_line(server)}: import the issuing CA's root and intermediate certificates "
            "into the computer's Trusted Root and Intermediate Certification Authorities stores, then:\n"
            f"Get-ExchangeCertificate -Server {ps_word(server)} -Thumbprint {ps_word(cert.thumbprint)} | fl Status"
        )
    if cert.status == "PendingRequest":
        return (
            f"# save the certificate the CA issued for this request as issued.cer in this folder, then:\n"
            f"Import-ExchangeCertificate -Server {ps_word(server)} -FileData "
            '([Byte[]]$(Get-Content -Path ".\\issued.cer" -Encoding Byte -ReadCount 0))'
        )
    # DateInvalid (renew), Revoked and Invalid (replace): a new certificate with the same use
    return replacement_commands(world, cert)


def _revocation_fix(world: EvidenceView, rec: ServerRecord, server: str) -> str:
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


@check(
    Requirement("CERT-01", "Exchange certificate status is Valid", Severity.CRITICAL, SECTION_CERT),
    subjects.certificates,
)
def certificate_status_valid(world: EvidenceView, key: str) -> Finding:
    rec, cert = _certificate(world, key)
    server = subjects.local_server(rec).name
    if cert.status == "RevocationCheckFailure":
        fix = _revocation_fix(world, rec, server)
    else:
        fix = _status_fix(world, cert, server)
    passed = cert.status == "Valid"
    return Finding(
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


@check(
    Requirement(
        "CERT-02", "IIS certificate covers every published host name", Severity.CRITICAL, SECTION_CERT
    ),
    subjects.servers,
)
def iis_certificate_covers_names(world: EvidenceView, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    facts = rec.require()
    if not local.is_client_access:
        raise NotApplicable(f"{local.name} has no Client Access role (no virtual directories to cover)")
    if facts.section_error("certificate") or facts.section_error("vdir"):
        raise FactsUnavailable(f"{key}: certificates or virtual directories could not be read")
    needed = names_needed(facts)
    cert = iis_certificate(facts)
    if cert is None:
        return Finding(
            key,
            f"IIS certificate of {local.name}",
            False,
            "no certificate assigned to IIS",
            f"a certificate assigned to IIS covering {', '.join(sorted(needed))}",
            remediation=f"Enable-ExchangeCertificate -Server {ps_word(local.name)} -Thumbprint <thumbprint> "
            "-Services IIS",
        )
    missing = sorted(n for n in needed if not name_covered(n, cert.certificate_domains))
    return Finding(
        key,
        _label(cert),
        not missing,
        "missing " + ", ".join(f"{n} ({needed[n]})" for n in missing)
        if missing
        else f"covers {', '.join(sorted(needed))}",
        f"every virtual directory and Outlook Anywhere host name in the certificate ({len(needed)} names)",
        why="" if not missing else "clients get a certificate name warning on those names",
        remediation=replacement_commands(world, cert),
    )


@check(
    Requirement("CERT-03", "Exchange certificate does not expire soon", Severity.WARNING, SECTION_CERT),
    subjects.certificates,
)
def certificate_not_expiring(world: EvidenceView, key: str) -> Finding:
    rec, cert = _certificate(world, key)
    subjects.local_server(rec)  # facts that name no local server make this an error
    days = rec.settings.cert_expiry_warning_days
    left = (cert.not_after - world.now).total_seconds() / 86400
    passed = left > days
    observed = (
        f"expired on {cert.not_after.date().isoformat()}"
        if left < 0
        else f"expires on {cert.not_after.date().isoformat()} ({int(left)} days left)"
    )
    return Finding(
        rec.host,
        _label(cert),
        passed,
        observed,
        f"more than {days} days of validity left (cert_expiry_warning_days)",
        remediation=replacement_commands(world, cert),
    )

"""What the Remote Connectivity Analyzer does, from the runner ("Test Client Access Server
Connectivity"), per published host name and URL: the name resolves, TCP 443 accepts, the TLS chain
is valid and its revocation good, each endpoint answers as Exchange does. Every name is resolved and
handshaken once per run; these checks read the results. The mail domains' steps: ``mail_domains``."""

from __future__ import annotations

import dataclasses

from cryptography import x509

from cas_conformance.checks.base import (
    FactsUnavailable,
    Finding,
    check,
    cmd_word,
    needs,
    one_line,
    ps_string,
    server_needs,
)
from cas_conformance.checks.subjects import endpoints, names
from cas_conformance.domain.catalogue import SECTION_CONN, Requirement, Severity
from cas_conformance.domain.chain_verdict import verify_chain
from cas_conformance.domain.records.dns import DnsAnswer
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.evidence.endpoints import server_endpoints
from cas_conformance.evidence.view import Endpoint, EvidenceView, Needs, ServerRecord, resolve


@server_needs
def _server_probes(record: ServerRecord) -> Needs:
    """The endpoint check reads the probe of each URL a server publishes: probed as its facts arrive."""
    return Needs(probe=tuple(server_endpoints(record)))


@needs
def _connectivity_needs(world: EvidenceView) -> Needs:
    """Every published name resolved and handshaken, every endpoint probed."""
    return Needs(
        resolve=resolve("A", world.names),
        handshake=frozenset(world.names),
        probe=tuple(world.endpoints.values()),
    )


def _placeholder_guard(world: EvidenceView, key: str) -> None:
    rec = world.servers.get(key)
    if rec is not None and rec.facts is None and key not in world.names:
        rec.require()


def dns_text(answer: DnsAnswer) -> str:
    text = answer.status + (f" {', '.join(answer.records)}" if answer.records else "")
    if answer.cname_chain:
        text += f" via CNAME {' -> '.join(answer.cname_chain)}"
    return text + f" (resolver {answer.resolver})"


def _record_fix(name: str) -> str:
    label, _, zone = name.partition(".")
    return f"dnscmd . /RecordAdd {cmd_word(zone)} {cmd_word(label)} A <published-ip>   # on a DNS server of the zone; public and internal DNS as needed"


@check(
    Requirement("CONN-01", "Host name resolves", Severity.CRITICAL, SECTION_CONN, only_2010=False),
    names,
)
def name_resolves(world: EvidenceView, key: str) -> Finding:
    _placeholder_guard(world, key)
    answer = world.dns(key, "A")
    return Finding(
        "",
        key,
        answer.ok and bool(answer.records),
        dns_text(answer),
        "an A record (directly or through a CNAME)",
        remediation=_record_fix(key),
    )


_CONNECT_FIRST = "fix the connection first (CONN-01/CONN-02)"  # no certificate to judge without one


def _handshake(world: EvidenceView, key: str) -> TlsHandshake:
    _placeholder_guard(world, key)
    handshake = world.tls.get(key)
    if handshake is None:
        raise FactsUnavailable(f"no TLS handshake was attempted for {key}")
    return handshake


@check(
    Requirement("CONN-02", "TCP 443 accepts connections", Severity.CRITICAL, SECTION_CONN, only_2010=False),
    names,
)
def tcp_443_accepts(world: EvidenceView, key: str) -> Finding:
    handshake = _handshake(world, key)
    error = handshake.error or ""
    # TCP failures are "connection refused", "connection failed: ..." or "... (TCP connect)";
    # anything later (handshake failure or timeout, an oversized chain) means TCP 443 accepted.
    connected = not (error.startswith(("connection ", "not resolved")) or "(TCP connect)" in error)
    observed = f"connected to {handshake.address}:{handshake.port}" if connected else error
    return Finding(
        "",
        f"{key}:443",
        connected,
        observed,
        "TCP 443 accepts connections",
        remediation=f"publish {key}:443 (firewall, load balancer, IIS https binding on the Client Access "
        "servers)",
    )


@check(
    Requirement(
        "CONN-03", "TLS certificate chain is valid", Severity.CRITICAL, SECTION_CONN, only_2010=False
    ),
    names,
)
def tls_chain_valid(world: EvidenceView, key: str) -> Finding:
    handshake = _handshake(world, key)
    expected = (
        "a chain to a trusted root, valid dates, the name in the certificate, RSA >= 2048 or ECDSA >= 256, "
        "no SHA-1/MD5 signatures"
    )
    if handshake.error:
        return Finding(
            "",
            key,
            False,
            handshake.error,
            expected,
            remediation=_CONNECT_FIRST,
        )
    verdict = verify_chain(handshake.chain_pem, key, trust_roots=world.trust_roots, at=world.now)
    observed = "; ".join(p.message for p in verdict.problems) or f"valid: {verdict.leaf_subject}"
    return Finding(
        "",
        f"{key} ({verdict.thumbprint})",
        verdict.ok,
        observed,
        expected,
        notes=(f"leaf names: {', '.join(verdict.leaf_names)}", f"issuer: {verdict.issuer}"),
        remediation=(
            f"# replace the certificate served for {key} with one from a trusted CA that names {key},\n"
            "# then on each Client Access server:\n"
            "Enable-ExchangeCertificate -Server <cas> -Thumbprint <new> -Services IIS"
        ),
    )


@check(
    Requirement(
        "CONN-04",
        "Certificate revocation can be checked and is good",
        Severity.CRITICAL,
        SECTION_CONN,
        only_2010=False,
    ),
    names,
)
def revocation_good(world: EvidenceView, key: str) -> Finding:
    handshake = _handshake(world, key)
    if handshake.error:
        return Finding(
            "",
            key,
            False,
            f"no certificate: {handshake.error}",
            "OCSP answers good, or the CRL is reachable and does not list the certificate",
            remediation=_CONNECT_FIRST,
        )
    result = world.revocation.get(key)
    if result is None:
        raise FactsUnavailable(f"no revocation check was made for {key}")
    observed = f"{result.method}: {result.status}" + (f" at {result.url}" if result.url else "")
    if result.detail:
        observed += f" ({result.detail})"
    ocsp = _ocsp_urls(handshake.chain_pem[0]) if handshake.chain_pem else []
    passed = result.status == "good"
    if passed and ocsp and result.method != "ocsp":
        # The CRL answered, but clients that ask the OCSP responder first wait for it: unreachable fails.
        passed = False
        result = dataclasses.replace(result, status="unreachable", url=ocsp[0])
    fix = {
        "revoked": f"replace the revoked certificate served for {key} and enable the new one for IIS",
        "unreachable": f"make {result.url or 'the OCSP/CRL URL'} reachable from clients (and from the servers' "
        "WinHTTP proxy): unreachable responders are the client-side twin of RevocationCheckFailure",
    }
    return Finding(
        "",
        key,
        passed,
        observed,
        "OCSP answers good, or the CRL is reachable and does not list the certificate",
        remediation=fix.get(result.status, f"check the revocation information of the certificate for {key}"),
    )


def _ocsp_urls(leaf_pem: str) -> list[str]:
    try:
        cert = x509.load_pem_x509_certificate(leaf_pem.encode())
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []  # no usable OCSP URL: the TLS chain check reports a certificate it cannot parse
    return [
        str(d.access_location.value)
        for d in aia
        if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
    ]


_SCHEMES = {
    "basic": "basic",
    "ntlm": "ntlm",
    "windowsintegrated": "negotiate",
    "negotiate": "negotiate",
    "digest": "digest",
    "kerberos": "negotiate",
}


@check(
    Requirement(
        "CONN-05", "Endpoint answers as Exchange does", Severity.CRITICAL, SECTION_CONN, only_2010=False
    ),
    endpoints,
)
def endpoint_answers(world: EvidenceView, key: str) -> Finding:
    _placeholder_guard(world, key)
    endpoint = world.endpoints.get(key)
    result = world.http.get(key)
    if endpoint is None or result is None:
        raise FactsUnavailable(f"{key} was not probed")
    hops = " -> ".join(f"{s} {u}" for s, u in result.redirects)
    observed = result.error or f"HTTP {result.status}" + (f" after {hops}" if hops else "")
    if result.www_authenticate:
        observed += f", offers {', '.join(result.www_authenticate)}"
    if endpoint.kind == "owa":
        expected = "HTTP 200 sign-in page, or a redirect to /owa/auth/logon.aspx"
        final = (result.final_url or "").lower()
        passed = (
            result.error is None
            and result.status == 200
            and ("/owa/auth/logon.aspx" in final or final.rstrip("/").endswith("/owa"))
        )
    else:
        wanted = {_SCHEMES[a.lower()] for a in endpoint.auth if a.lower() in _SCHEMES}
        offered = {s.lower() for s in result.www_authenticate}
        expected = "HTTP 401 offering " + (
            ", ".join(sorted(wanted)) if wanted else "an authentication method"
        )
        passed = result.error is None and result.status == 401 and bool(offered) and wanted <= offered
    return Finding(
        endpoint.server,
        key,
        passed,
        observed,
        expected,
        remediation=_endpoint_fix(endpoint, key),
    )


def _endpoint_fix(endpoint: Endpoint, url: str) -> str:
    advice = (
        f"# check what answers {one_line(url)}: the IIS https binding, the {endpoint.kind} virtual "
        "directory's authentication settings, the load balancer's rules"
    )
    if endpoint.source == "published":
        return advice
    cmdlet = (
        "Get-OutlookAnywhere" if endpoint.kind == "rpc" else f"Get-{_CMDLET[endpoint.kind]}VirtualDirectory"
    )
    return f"{advice}\n{cmdlet} -Identity {ps_string(endpoint.source)} | fl *Url*,*Auth*"


_CMDLET = {
    "owa": "Owa",
    "ews": "WebServices",
    "activesync": "ActiveSync",
    "oab": "Oab",
    "autodiscover": "Autodiscover",
}

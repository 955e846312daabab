"""CONN-01..07: what the Remote Connectivity Analyzer does, from the runner ("Test Client Access Server
Connectivity"). Every name is resolved and handshaken once per run; these checks read the results."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

from cryptography import x509

from cas_conformance.checks.base import (
    FactsUnavailable,
    Finding,
    NotApplicable,
    check,
    cmd_word,
    needs,
    one_line,
    ps_string,
    server_needs,
)
from cas_conformance.checks.subjects import endpoints, names, smtp_domains
from cas_conformance.domain.chain_verdict import verify_chain
from cas_conformance.domain.records.dns import DnsAnswer
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.evidence.endpoints import server_endpoints
from cas_conformance.evidence.view import Endpoint, EvidenceView, Needs, ServerRecord, resolve


@server_needs
def _server_probes(record: ServerRecord) -> Needs:
    """CONN-05 reads the probe of each URL a server publishes: probed as its facts arrive."""
    return Needs(probe=tuple(server_endpoints(record)))


@needs
def _connectivity_needs(world: EvidenceView) -> Needs:
    """Every published name resolved and handshaken (CONN-01..04), every endpoint probed
    (CONN-05), each mail domain's MX greeted (CONN-07) and asked by the test mailbox (CONN-06)."""
    domains = frozenset(world.smtp_domains)
    return Needs(
        resolve=resolve("A", world.names) | resolve("MX", domains),
        handshake=frozenset(world.names),
        probe=tuple(world.endpoints.values()),
        smtp=domains,
        autodiscover=domains if world.run.probe_credentials else frozenset(),
    )


def _placeholder_guard(world: EvidenceView, key: str) -> None:
    rec = world.servers.get(key)
    if rec is not None and rec.facts is None and key not in world.names:
        rec.require()


def _dns_text(answer: DnsAnswer) -> str:
    text = answer.status + (f" {', '.join(answer.records)}" if answer.records else "")
    if answer.cname_chain:
        text += f" via CNAME {' -> '.join(answer.cname_chain)}"
    return text + f" (resolver {answer.resolver})"


def _record_fix(name: str) -> str:
    label, _, zone = name.partition(".")
    return f"dnscmd . /RecordAdd {cmd_word(zone)} {cmd_word(label)} A <published-ip>   # on a DNS server of the zone; public and internal DNS as needed"


@check("CONN-01", names)
def name_resolves(world: EvidenceView, key: str) -> Finding:
    _placeholder_guard(world, key)
    answer = world.dns(key, "A")
    return Finding(
        "CONN-01",
        "",
        key,
        answer.ok and bool(answer.records),
        _dns_text(answer),
        "an A record (directly or through a CNAME)",
        remediation=_record_fix(key),
    )


def _handshake(world: EvidenceView, key: str) -> TlsHandshake:
    _placeholder_guard(world, key)
    handshake = world.tls.get(key)
    if handshake is None:
        raise FactsUnavailable(f"no TLS handshake was attempted for {key}")
    return handshake


@check("CONN-02", names)
def tcp_443_accepts(world: EvidenceView, key: str) -> Finding:
    handshake = _handshake(world, key)
    error = handshake.error or ""
    # TCP failures are "connection refused", "connection failed: ..." or "... (TCP connect)";
    # anything later (handshake failure or timeout, an oversized chain) means TCP 443 accepted.
    connected = not (error.startswith(("connection ", "not resolved")) or "(TCP connect)" in error)
    observed = f"connected to {handshake.address}:{handshake.port}" if connected else error
    return Finding(
        "CONN-02",
        "",
        f"{key}:443",
        connected,
        observed,
        "TCP 443 accepts connections",
        remediation=f"publish {key}:443 (firewall, load balancer, IIS https binding on the Client Access "
        "servers)",
    )


@check("CONN-03", names)
def tls_chain_valid(world: EvidenceView, key: str) -> Finding:
    handshake = _handshake(world, key)
    expected = (
        "a chain to a trusted root, valid dates, the name in the certificate, RSA >= 2048 or ECDSA >= 256, "
        "no SHA-1/MD5 signatures"
    )
    if handshake.error:
        return Finding(
            "CONN-03",
            "",
            key,
            False,
            handshake.error,
            expected,
            remediation="fix the connection first (CONN-01/CONN-02)",
        )
    verdict = verify_chain(handshake.chain_pem, key, trust_roots=world.trust_roots, at=world.now)
    observed = "; ".join(p.message for p in verdict.problems) or f"valid: {verdict.leaf_subject}"
    return Finding(
        "CONN-03",
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


@check("CONN-04", names)
def revocation_good(world: EvidenceView, key: str) -> Finding:
    handshake = _handshake(world, key)
    if handshake.error:
        return Finding(
            "CONN-04",
            "",
            key,
            False,
            f"no certificate: {handshake.error}",
            "OCSP answers good, or the CRL is reachable and does not list the certificate",
            remediation="fix the connection first (CONN-01/CONN-02)",
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
        "CONN-04",
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
        return []  # no usable OCSP URL: CONN-03 reports a certificate it cannot parse
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


@check("CONN-05", endpoints)
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
        "CONN-05",
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
_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def _autodiscover_error(root: ET.Element) -> tuple[str, str] | None:
    """An Error element's code and message ([MS-OXDSCLI] 2.2.4.1.1.3: 500 the address cannot be
    found, 600 an improperly formatted request, ...), whatever namespace the server put it in."""
    for element in root.iter():
        if element.tag.rpartition("}")[2] != "Error":
            continue
        texts = {child.tag.rpartition("}")[2]: (child.text or "").strip() for child in element}
        return texts.get("ErrorCode") or texts.get("Status") or "?", texts.get("Message") or "no message"
    return None


def _address_fix(world: EvidenceView, fallback: str) -> str:
    """For an address Autodiscover does not know (errors 500 and 501): look it up, and name the
    variable that sets the address asked about."""
    address = world.probe_email or world.probe_user
    if not address:
        return fallback
    return (
        f"Get-Recipient -Identity {ps_string(address)} | Format-List RecipientType, PrimarySmtpAddress\n"
        f"# Autodiscover found no mailbox for {one_line(address)}: set {world.run.probe_credentials}_EMAIL "
        "to the test mailbox's primary SMTP address"
    )


@check("CONN-06", smtp_domains)
def autodiscover_authenticated(world: EvidenceView, key: str) -> Finding:
    if not world.run.probe_credentials:
        raise NotApplicable("no test mailbox declared (probe_credentials is not set)")
    result = world.autodiscover.get(key)
    if result is None:
        raise FactsUnavailable(
            f"no Autodiscover request was made for {key}: set {world.run.probe_credentials}_USER "
            f"and {world.run.probe_credentials}_PASSWORD in the environment"
        )
    expected_expr = sorted(
        {
            oa.external_hostname.lower()
            for f in world.collected()
            for oa in f.outlook_anywhere
            if oa.external_hostname
        }
    )
    expected_exch = sorted(
        {db.rpc_client_access_server.lower() for db in world.databases() if db.rpc_client_access_server}
        | {s.fqdn.lower() for s in world.org_servers()}
    )
    expected = (
        f"HTTP 200, a well-formed response; EXPR server in {expected_expr or '(Outlook Anywhere hosts)'}, "
        "EXCH server an RPC endpoint of the organisation"
    )
    fix = "check Get-OutlookAnywhere | fl ExternalHostname and Get-MailboxDatabase | fl RpcClientAccessServer"
    subject = f"{result.url} for {world.probe_user}" if world.probe_user else result.url
    if result.error or result.status != 200:
        return Finding(
            "CONN-06",
            "",
            subject,
            False,
            result.error or f"HTTP {result.status}",
            expected,
            remediation=fix,
        )
    try:
        root = ET.fromstring(result.body_excerpt)
    except ET.ParseError as exc:
        return Finding("CONN-06", "", subject, False, f"malformed XML: {exc}", expected, remediation=fix)
    error = _autodiscover_error(root)
    if error is not None:
        code, message = error
        remedy = _address_fix(world, fix) if code in ("500", "501") else fix
        observed = f"Autodiscover answered error {code}: {one_line(message)}"
        return Finding("CONN-06", "", subject, False, observed, expected, remediation=remedy)
    servers = {}
    for protocol in root.iter(f"{_NS}Protocol"):
        kind = protocol.findtext(f"{_NS}Type") or ""
        servers[kind] = (protocol.findtext(f"{_NS}Server") or "").lower()
    problems = []
    if "EXPR" in servers and expected_expr and servers["EXPR"] not in expected_expr:
        problems.append(f"EXPR server {servers['EXPR']} is not an Outlook Anywhere host name")
    if "EXCH" in servers and servers["EXCH"] not in expected_exch:
        problems.append(f"EXCH server {servers['EXCH']} is not an RPC endpoint of the organisation")
    if not servers:
        problems.append("no Protocol sections in the response")
    elif "EXCH" not in servers:  # Outlook's RPC endpoint: an Exchange 2010 answer for a mailbox has it
        problems.append("no EXCH section (the RPC endpoint Outlook connects to) in the response")
    observed = "; ".join(problems) or ", ".join(f"{k} {v}" for k, v in sorted(servers.items()))
    return Finding(
        "CONN-06",
        "",
        subject,
        not problems,
        observed,
        expected,
        remediation=fix,
    )


@check("CONN-07", smtp_domains)
def smtp_starttls(world: EvidenceView, key: str) -> Finding:
    mx = world.dns(key, "MX")
    expected = "MX resolves; port 25 greets with 220 and offers STARTTLS"
    if not (mx.ok and mx.records):
        return Finding(
            "CONN-07",
            "",
            key,
            False,
            f"MX {_dns_text(mx)}",
            expected,
            remediation=f"publish an MX record for {key}",
        )
    probe = world.smtp.get(key)
    if probe is None:
        raise FactsUnavailable(f"the SMTP host of {key} was not probed")
    host = f"{probe.host}:{probe.port}"
    if probe.error:
        observed = probe.error
    else:
        observed = f"{probe.banner_code} {probe.banner}; STARTTLS {'offered' if probe.starttls_offered else 'not offered'}"
    passed = not probe.error and probe.banner_code == 220 and probe.starttls_offered
    return Finding(
        "CONN-07",
        "",
        f"{key} (MX {host})",
        passed,
        observed,
        expected,
        remediation="Get-ReceiveConnector | ? {$_.Bindings -match ':25$'} | Set-ReceiveConnector "
        "-RequireTLS $false -AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS,ExchangeServer   "
        "# and a certificate enabled for SMTP: Enable-ExchangeCertificate -Services SMTP",
    )

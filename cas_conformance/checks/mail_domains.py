"""The steps of the Remote Connectivity Analyzer per mail domain, from the runner ("Test Client
Access Server Connectivity"): Autodiscover answers the test mailbox with the organisation's
servers, and the domain's MX greets on port 25 and offers STARTTLS."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cas_conformance.checks.base import (
    FactsUnavailable,
    Finding,
    NotApplicable,
    check,
    needs,
    one_line,
    ps_string,
)
from cas_conformance.checks.connectivity import dns_text
from cas_conformance.checks.subjects import autodiscover, smtp_domains
from cas_conformance.domain.catalogue import SECTION_CONN, Requirement, Severity
from cas_conformance.evidence.view import EvidenceView, Needs, resolve


@needs
def _mail_domain_needs(world: EvidenceView) -> Needs:
    """Each mail domain's MX resolved and greeted, and asked by the test mailbox when there is one."""
    domains = frozenset(world.smtp_domains)
    return Needs(
        resolve=resolve("MX", domains),
        smtp=domains,
        autodiscover=domains if world.run.probe_credentials else frozenset(),
    )


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


@check(
    Requirement(
        "CONN-06",
        "Authenticated Autodiscover returns the configured servers",
        Severity.CRITICAL,
        SECTION_CONN,
        only_2010=False,
    ),
    autodiscover,
)
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
        return Finding("", subject, False, f"malformed XML: {exc}", expected, remediation=fix)
    error = _autodiscover_error(root)
    if error is not None:
        code, message = error
        remedy = _address_fix(world, fix) if code in ("500", "501") else fix
        observed = f"Autodiscover answered error {code}: {one_line(message)}"
        return Finding("", subject, False, observed, expected, remediation=remedy)
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
        "",
        subject,
        not problems,
        observed,
        expected,
        remediation=fix,
    )


@check(
    Requirement(
        "CONN-07", "MX resolves and SMTP offers STARTTLS", Severity.WARNING, SECTION_CONN, only_2010=False
    ),
    smtp_domains,
)
def smtp_starttls(world: EvidenceView, key: str) -> Finding:
    mx = world.dns(key, "MX")
    expected = "MX resolves; port 25 greets with 220 and offers STARTTLS"
    if not (mx.ok and mx.records):
        return Finding(
            "",
            key,
            False,
            f"MX {dns_text(mx)}",
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
        "",
        f"{key} (MX {host})",
        passed,
        observed,
        expected,
        remediation="Get-ReceiveConnector | ? {$_.Bindings -match ':25$'} | Set-ReceiveConnector "
        "-RequireTLS $false -AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS,ExchangeServer   "
        "# and a certificate enabled for SMTP: Enable-ExchangeCertificate -Services SMTP",
    )

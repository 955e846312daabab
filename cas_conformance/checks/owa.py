"""The OWA FailbackUrl: "DNS Change Prevents User from Signing In to Outlook Web App"."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import (
    FactsUnavailable,
    Finding,
    NotApplicable,
    check,
    cmd_word,
    needs,
    ps_string,
)
from cas_conformance.domain.catalogue import SECTION_OWA, Requirement, Severity
from cas_conformance.domain.chain_verdict import verify_chain
from cas_conformance.domain.facts import VirtualDirectory
from cas_conformance.evidence.endpoints import failback_hosts
from cas_conformance.evidence.view import EvidenceView, Needs, ServerRecord, host_of, resolve


@needs
def _failback_needs(world: EvidenceView) -> Needs:
    """Each FailbackUrl host's A record and certificate, and the A record of the server hosting the
    virtual directory (where the failback host must resolve to)."""
    failback = failback_hosts(world.servers.values())
    hosting = (s.fqdn for s in world.org_servers())
    return Needs(resolve=resolve("A", failback) | resolve("A", hosting), handshake=frozenset(failback))


def _vdir(world: EvidenceView, key: str) -> tuple[ServerRecord, VirtualDirectory]:
    host, _, identity = key.partition("|")
    rec = subjects.record(world, host)
    subjects.require_2010(rec)
    for vdir in rec.require().vdirs:
        if vdir.identity == identity:
            return rec, vdir
    raise FactsUnavailable(f"{identity} is not in the facts of {host}")


def _failback_host(vdir: VirtualDirectory) -> str:
    host = host_of(vdir.failback_url)
    if not host:
        raise NotApplicable(f"{vdir.identity} has no FailbackUrl to test (OWA-01 reports it)")
    return host


def _remediation(vdir: VirtualDirectory, failback: str, cas_ip: str) -> str:
    label, _, zone = failback.partition(".")
    url = ps_string(f"https://{failback}/owa")
    return (
        f"Set-OwaVirtualDirectory -Identity {ps_string(vdir.identity)} -FailbackUrl {url}\n"
        f"dnscmd . /RecordAdd {cmd_word(zone)} {cmd_word(label)} A {cmd_word(cas_ip)}   # on a DNS server of the zone"
    )


def _cas_ips(world: EvidenceView, rec: ServerRecord) -> tuple[str, ...]:
    local = subjects.local_server(rec)
    return world.dns(local.fqdn, "A").records if local.fqdn else ()


def _proposed(vdir: VirtualDirectory, rec: ServerRecord) -> str:
    external = host_of(vdir.external_url)
    domain = external.partition(".")[2] or (rec.settings.dns_domain or "")
    return host_of(vdir.failback_url) or f"failback-{rec.host.split('.')[0].lower()}.{domain}"


def _finding(
    rec: ServerRecord,
    vdir: VirtualDirectory,
    world: EvidenceView,
    passed: bool,
    observed: str,
    expected: str,
    why: str = "",
) -> Finding:
    ips = _cas_ips(world, rec)
    return Finding(
        rec.host,
        vdir.identity,
        passed,
        observed,
        expected,
        why=why,
        remediation=_remediation(vdir, _proposed(vdir, rec), ips[0] if ips else "<cas-ip>"),
    )


@check(
    Requirement("OWA-01", "OWA FailbackUrl is set", Severity.WARNING, SECTION_OWA),
    subjects.owa_vdirs,
)
def failback_url_set(world: EvidenceView, key: str) -> Finding:
    rec, vdir = _vdir(world, key)
    return _finding(
        rec,
        vdir,
        world,
        bool(vdir.failback_url),
        vdir.failback_url or "(not set)",
        "a FailbackUrl, so browsers return to the primary site after a datacenter failback",
        why="" if vdir.failback_url else f"ExternalUrl is {vdir.external_url}",
    )


@check(
    Requirement(
        "OWA-02", "OWA FailbackUrl host differs from ExternalUrl host", Severity.CRITICAL, SECTION_OWA
    ),
    subjects.owa_vdirs,
)
def failback_host_differs(world: EvidenceView, key: str) -> Finding:
    rec, vdir = _vdir(world, key)
    failback = _failback_host(vdir)
    external = host_of(vdir.external_url)
    passed = failback != external
    return _finding(
        rec,
        vdir,
        world,
        passed,
        f"FailbackUrl host {failback}, ExternalUrl host {external}",
        "a FailbackUrl host name different from the ExternalUrl host name",
        why=""
        if passed
        else "the failback name must be its own DNS entry pointing at the original "
        "server, or browsers keep using the cached switched-over address",
    )


@check(
    Requirement(
        "OWA-03",
        "OWA FailbackUrl host resolves to its Client Access server or a declared failback address",
        Severity.CRITICAL,
        SECTION_OWA,
    ),
    subjects.owa_vdirs,
)
def failback_host_resolves_to_cas(world: EvidenceView, key: str) -> Finding:
    rec, vdir = _vdir(world, key)
    failback = _failback_host(vdir)
    answer = world.dns(failback, "A")
    cas_ips = _cas_ips(world, rec)
    local = subjects.local_server(rec)
    if not cas_ips:
        raise FactsUnavailable(
            f"{local.fqdn} (the server hosting {vdir.identity}) does not resolve: "
            f"{world.dns(local.fqdn, 'A').status}"
        )
    declared = tuple(a for a in rec.settings.failback_addresses if a not in cas_ips)
    accepted = [f"{', '.join(cas_ips)} ({local.fqdn}, the server hosting this virtual directory)"]
    if declared:
        accepted.append(f"{', '.join(declared)} (failback_addresses declared for {rec.host})")
    observed = f"{failback}: {answer.status}" + (f" {', '.join(answer.records)}" if answer.records else "")
    hits = set(answer.records) & {*cas_ips, *declared}
    passed = answer.ok and bool(hits)
    return _finding(
        rec,
        vdir,
        world,
        passed,
        observed,
        f"{failback} resolves to an accepted address: {'; '.join(accepted)}",
        why=""
        if passed
        else "the failback name needs its own DNS entry pointing at the Client Access server that "
        "hosts this virtual directory, or (behind a load balancer) at an address declared in "
        "failback_addresses, such as the original site's virtual IP",
    )


@check(
    Requirement(
        "OWA-04", "OWA FailbackUrl answers over TLS with a valid certificate", Severity.CRITICAL, SECTION_OWA
    ),
    subjects.owa_vdirs,
)
def failback_host_serves_valid_certificate(world: EvidenceView, key: str) -> Finding:
    rec, vdir = _vdir(world, key)
    failback = _failback_host(vdir)
    handshake = world.tls.get(failback)
    if handshake is None:
        raise FactsUnavailable(f"no TLS handshake was attempted for {failback}")
    expected = f"https://{failback}/owa answers over TLS with a certificate valid for {failback}"
    if handshake.error:
        return _finding(rec, vdir, world, False, handshake.error, expected)
    verdict = verify_chain(handshake.chain_pem, failback, trust_roots=world.trust_roots, at=world.now)
    problems = [
        p
        for p in verdict.problems
        if p.code in ("untrusted", "expired", "not-yet-valid", "name-mismatch", "self-signed")
    ]
    observed = "; ".join(p.message for p in problems) or f"valid certificate {verdict.leaf_subject}"
    return _finding(rec, vdir, world, not problems, observed, expected)

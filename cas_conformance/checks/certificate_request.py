"""One replacement request per certificate, for the certificate checks (status, names, expiry) alike.

Servers behind one published name usually share one SAN certificate (the same thumbprint on each).
Its replacement is requested once, on the first of those servers, with the union of every name any
requirement asks for: the names it holds now, plus every virtual directory and Outlook Anywhere
host name of each server that serves it to IIS (the IIS certificate's names check), and every
published name whose TLS handshake from the client's side serves it (the TLS chain check judges the
name on it). The issued certificate is imported and
enabled there, then exported with its private key and imported on the others. Every finding on
that certificate carries the same text, so remediation.ps1 lists it once.

Commands as Exchange 2010 takes them (New-ExchangeCertificate ``-GenerateRequest`` returns the
request, written with Set-Content; Import/Export-ExchangeCertificate ``-FileData``): Microsoft,
"New-ExchangeCertificate", "Import-ExchangeCertificate" and "Export-ExchangeCertificate"
(learn.microsoft.com/powershell/module/exchange/).
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cas_conformance.checks.base import one_line, ps_string, ps_word
from cas_conformance.domain.facts import ExchangeCertificate, ServerFacts
from cas_conformance.evidence.view import EvidenceView, host_of

_FILE_NAME = re.compile(r"[^A-Za-z0-9.-]+")
_T = TypeVar("_T")


def _per_world(world: EvidenceView, key: tuple[str, Any], compute: Callable[[], _T]) -> _T:
    """*compute*'s answer, once per EvidenceView (kept beside its cached views: the EvidenceView is read-only once
    the servers are collected). Every finding on a shared certificate asks the same question, and
    answering it walks every server and every name: once per finding, a run's cost grew with the
    square of the organisation."""
    cache: dict[tuple[str, Any], Any] = vars(world).setdefault("_certificate_request_cache", {})
    if key not in cache:
        cache[key] = compute()
    answer: _T = cache[key]
    return answer


def iis_certificate(facts: ServerFacts) -> ExchangeCertificate | None:
    """The certificate IIS serves: of those assigned to IIS, the one that lasts longest."""
    iis = [c for c in facts.certificates if "IIS" in c.services]
    return max(iis, key=lambda c: c.not_after) if iis else None


def names_needed(facts: ServerFacts) -> dict[str, str]:
    """Every host name a server's virtual directories and Outlook Anywhere publish -> where."""
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
    return needed


@dataclass(frozen=True)
class Holder:
    """A server that holds the certificate: its Exchange name and the services it assigns."""

    server: str
    services: tuple[str, ...]


def _holders(world: EvidenceView, thumbprint: str) -> tuple[list[Holder], list[str]]:
    """Every collected server holding *thumbprint* (by Exchange name), and the names needed by
    those that serve it to IIS (new lists: the caller may extend them)."""
    holders, needed = _per_world(world, ("holders", ""), lambda: _holders_by_thumbprint(world)).get(
        thumbprint, ([], [])
    )
    return list(holders), list(needed)


def _holders_by_thumbprint(world: EvidenceView) -> dict[str, tuple[list[Holder], list[str]]]:
    """One walk over the servers for every certificate (each server's self-signed one too)."""
    index: dict[str, tuple[list[Holder], list[str]]] = {}
    for rec in world.servers.values():
        facts = rec.facts
        if facts is None:
            continue
        name = facts.local.name if facts.local is not None else (facts.local_server or rec.host)
        iis = iis_certificate(facts)
        seen: set[str] = set()
        for cert in facts.certificates:
            if cert.thumbprint in seen:  # the first certificate of a thumbprint speaks for the server
                continue
            seen.add(cert.thumbprint)
            holders, needed = index.setdefault(cert.thumbprint, ([], []))
            holders.append(Holder(name, tuple(s for s in cert.services if s != "None")))
            if iis == cert:
                needed.extend(names_needed(facts))
    for holders, _needed in index.values():
        holders.sort(key=lambda h: h.server.lower())
    return index


def _leaf_thumbprint(pem: str) -> str | None:
    """The SHA-1 thumbprint Get-ExchangeCertificate shows for a PEM certificate (None if unreadable)."""
    try:
        return hashlib.sha1(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
    except ValueError:
        return None


def _served_by_thumbprint(world: EvidenceView) -> dict[str, list[str]]:
    """Leaf thumbprint -> the published names whose handshake sends it, from one pass over them."""
    leaves: dict[str, str | None] = {}  # the handshakes of many names share one certificate
    index: dict[str, list[str]] = {}
    for name, handshake in world.tls.items():
        if not handshake.chain_pem:
            continue
        pem = handshake.chain_pem[0]
        if pem not in leaves:
            leaves[pem] = _leaf_thumbprint(pem)
        thumbprint = leaves[pem]
        if thumbprint is not None:
            index.setdefault(thumbprint, []).append(name.lower())
    return index


def served_names(world: EvidenceView, thumbprint: str) -> list[str]:
    """Published names whose handshake sends the certificate *thumbprint* as its leaf."""
    index = _per_world(world, ("served", ""), lambda: _served_by_thumbprint(world))
    return list(index.get(thumbprint.upper(), []))


def request_names(world: EvidenceView, cert: ExchangeCertificate) -> list[str]:
    """The names the replacement holds: the current ones first, then every name needed."""
    _, needed = _holders(world, cert.thumbprint)
    needed += served_names(world, cert.thumbprint)
    return list(dict.fromkeys(n.lower() for n in [*cert.certificate_domains, *sorted(set(needed))]))


def replacement_commands(world: EvidenceView, cert: ExchangeCertificate) -> str:
    """The commands that replace *cert* everywhere it is used, requested once."""
    return _per_world(world, ("commands", cert), lambda: _replacement_commands(world, cert))


def _replacement_commands(world: EvidenceView, cert: ExchangeCertificate) -> str:
    holders, _ = _holders(world, cert.thumbprint)
    names = request_names(world, cert)
    first = holders[0] if holders else Holder("<server>", cert.services)
    base = _FILE_NAME.sub("_", names[0] if names else cert.thumbprint).strip("_") or "certificate"
    services = ",".join(ps_word(s) for s in first.services) or "IIS"
    on = one_line(", ".join(h.server for h in holders) or first.server)
    req_file, cer_file = (ps_string(f".\\{base}.{ext}") for ext in ("req", "cer"))
    lines = [
        f"# certificate {one_line(cert.thumbprint)} is used on {on}: request its replacement once, "
        f"on {one_line(first.server)},",
        f"# with every name the checks ask for ({len(names)} names):",
        f"$request = New-ExchangeCertificate -Server {ps_word(first.server)} -GenerateRequest "
        f"-SubjectName {ps_string('CN=' + (names[0] if names else cert.subject))} "
        f"-DomainName {','.join(ps_word(n) for n in names)} -PrivateKeyExportable $true",
        f"Set-Content -Path {req_file} -Value $request",
        f"# send {base}.req to your certification authority; save the certificate it issues as "
        f"{base}.cer in this folder, then:",
        f"$new = Import-ExchangeCertificate -Server {ps_word(first.server)} -FileData "
        f"([Byte[]]$(Get-Content -Path {cer_file} -Encoding Byte -ReadCount 0))",
        f"Enable-ExchangeCertificate -Server {ps_word(first.server)} -Thumbprint $new.Thumbprint "
        f"-Services {services}",
    ]
    others = holders[1:]
    if others:
        lines += [
            "# the same certificate, with its private key, on the other servers that use it:",
            '$pfxPassword = Read-Host -AsSecureString -Prompt "password for the exported certificate"',
            f"$pfx = Export-ExchangeCertificate -Server {ps_word(first.server)} -Thumbprint $new.Thumbprint "
            "-BinaryEncoded:$true -Password $pfxPassword",
        ]
        for holder in others:
            lines.append(
                f"Import-ExchangeCertificate -Server {ps_word(holder.server)} -FileData $pfx.FileData "
                f"-Password $pfxPassword | Enable-ExchangeCertificate -Server {ps_word(holder.server)} "
                f"-Services {','.join(ps_word(s) for s in holder.services) or 'IIS'}"
            )
    return "\n".join(lines)

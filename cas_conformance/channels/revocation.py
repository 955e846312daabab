"""Revocation channel: ask the leaf's OCSP responder, or fetch its CRL, as Windows would from the runner.

Policy (CONN-04): OCSP first, to each responder URL in the leaf's AIA in turn, until one gives an
answer (good, revoked or unknown). When no responder answers (unreachable, timed out, HTTP error,
bad or badly signed response) and the leaf has an HTTP CRL distribution point, the CRL decides
instead and the result's detail keeps the OCSP failure; if the CRL fails too, the OCSP failure is
returned. A leaf without an OCSP URL is judged by its CRL alone; a leaf with neither gets method
``none``, status ``unknown``.

Every answer is verified: an OCSP response must be signed by the issuer or by a responder
certificate the issuer signed for OCSP signing, and must answer for this serial and issuer; a CRL
must be signed by the issuer. Responses over ``max_response_bytes`` are cut off with an error.
The caller supplies the ``requests.Session`` (the product mounts a lab-aware adapter on it).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from cas_conformance.domain.chain_verdict import is_issued_by, signature_valid
from cas_conformance.domain.records.revocation import Method as Method
from cas_conformance.domain.records.revocation import RevocationResult as RevocationResult
from cas_conformance.domain.records.revocation import Status as Status

MAX_RESPONSE_BYTES = 1_000_000
CLOCK_SKEW = dt.timedelta(minutes=5)


class _Failed(Exception):
    """A fetch or an answer that settles nothing: status is ``unreachable`` or ``error``."""

    def __init__(self, status: Status, detail: str) -> None:
        super().__init__(detail)
        self.status: Status = status
        self.detail = detail


def _connection_reason(exc: BaseException, timeout: float) -> str:
    text = str(exc)
    if "timed out" in text.lower() or isinstance(exc, requests.Timeout):
        return f"timed out after {timeout:g} s"
    if "refused" in text.lower():
        return "connection refused"
    if "resolve" in text.lower() or "name or service not known" in text.lower():
        return "the host name does not resolve"
    return text[:300]


def _fetch(
    session: requests.Session, method: str, url: str, *, timeout: float, limit: int, **kwargs: Any
) -> bytes:
    """The body of a 200 answer, at most *limit* bytes, within *timeout* in total; else _Failed."""
    deadline = time.monotonic() + timeout
    try:
        response = session.request(method, url, timeout=timeout, stream=True, **kwargs)
    except requests.ConnectionError as exc:
        raise _Failed("unreachable", f"{url} unreachable: {_connection_reason(exc, timeout)}") from exc
    except requests.Timeout as exc:
        raise _Failed("unreachable", f"{url} unreachable: timed out after {timeout:g} s") from exc
    except requests.RequestException as exc:
        raise _Failed("error", f"{url}: {exc}") from exc
    with response:
        if response.status_code != 200:
            raise _Failed("error", f"{url} answered HTTP {response.status_code} {response.reason}")
        body = bytearray()
        try:
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) > limit:
                    raise _Failed("error", f"{url}: response larger than {limit} bytes, cut off")
                if time.monotonic() > deadline:
                    raise _Failed("unreachable", f"{url} unreachable: timed out after {timeout:g} s")
        except requests.RequestException as exc:
            raise _Failed("unreachable", f"{url} unreachable: {_connection_reason(exc, timeout)}") from exc
    return bytes(body)


def _access_urls(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == oid and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def _crl_urls(cert: x509.Certificate) -> list[str]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or []
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


def _load_cert(data: bytes) -> x509.Certificate | None:
    for loader in (x509.load_der_x509_certificate, x509.load_pem_x509_certificate):
        try:
            return loader(data)
        except ValueError:
            continue
    return None


def _find_issuer(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate], session: requests.Session, timeout: float
) -> x509.Certificate:
    """The leaf's issuer from the chain, else downloaded from its AIA caIssuers URL (servers that
    send the leaf alone are common); _Failed when neither yields it."""
    for cert in chain:
        if is_issued_by(leaf, cert):
            return cert
    notes = []
    for url in _access_urls(leaf, AuthorityInformationAccessOID.CA_ISSUERS):
        try:
            fetched = _load_cert(_fetch(session, "GET", url, timeout=timeout, limit=MAX_RESPONSE_BYTES))
        except _Failed as exc:
            notes.append(exc.detail)
            continue
        if fetched is not None and is_issued_by(leaf, fetched):
            return fetched
        notes.append(f"{url} did not hold the issuing certificate")
    where = f" ({'; '.join(notes)})" if notes else ""
    raise _Failed("error", f"the issuer certificate is neither in the chain nor at its caIssuers URL{where}")


def _ocsp_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime) -> x509.Certificate:
    def is_responder(cert: x509.Certificate) -> bool:
        if response.responder_name is not None:
            return response.responder_name == cert.subject
        key_id = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
        return response.responder_key_hash == key_id

    if is_responder(issuer):
        return issuer
    for cert in response.certificates:
        if not is_responder(cert) or not is_issued_by(cert, issuer):
            continue
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if (
            ExtendedKeyUsageOID.OCSP_SIGNING in usages
            and cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
        ):
            return cert
    raise _Failed(
        "error", "the OCSP response is signed by neither the issuer nor a responder it delegated to"
    )


@dataclass(frozen=True)
class _StatusQuery:
    """What asking about one leaf takes, shared by its OCSP and CRL attempts (one per URL)."""

    leaf: x509.Certificate
    issuer: x509.Certificate
    session: requests.Session
    timeout: float
    now: dt.datetime

    def by_ocsp(self, url: str) -> RevocationResult:
        """The responder at *url*'s verified answer for the leaf."""
        request = ocsp.OCSPRequestBuilder().add_certificate(self.leaf, self.issuer, hashes.SHA1()).build()
        body = _fetch(
            self.session,
            "POST",
            url,
            timeout=self.timeout,
            limit=MAX_RESPONSE_BYTES,
            data=request.public_bytes(Encoding.DER),
            headers={"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"},
        )
        try:
            response = ocsp.load_der_ocsp_response(body)
        except ValueError as exc:
            raise _Failed("error", f"{url} did not answer with an OCSP response: {exc}") from exc
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise _Failed("error", f"{url} answered OCSP status {response.response_status.name}")
        signer = _ocsp_signer(response, self.issuer, self.now)
        if not signature_valid(
            signer.public_key(),
            response.signature,
            response.tbs_response_bytes,
            response.signature_hash_algorithm,
        ):
            raise _Failed("error", f"the OCSP response from {url} has an invalid signature")
        for single in response.responses:
            expected = (
                ocsp.OCSPRequestBuilder()
                .add_certificate(self.leaf, self.issuer, single.hash_algorithm)
                .build()
            )
            if (single.serial_number, single.issuer_key_hash, single.issuer_name_hash) == (
                self.leaf.serial_number,
                expected.issuer_key_hash,
                expected.issuer_name_hash,
            ):
                break
        else:
            raise _Failed(
                "error",
                f"the OCSP response from {url} does not answer for serial {self.leaf.serial_number:X}",
            )
        if single.this_update_utc > self.now + CLOCK_SKEW:
            raise _Failed(
                "error", f"the OCSP response from {url} is dated in the future ({single.this_update_utc})"
            )
        if single.next_update_utc is not None and single.next_update_utc < self.now - CLOCK_SKEW:
            raise _Failed(
                "error", f"the OCSP response from {url} is stale (next update {single.next_update_utc})"
            )
        serial = f"serial {self.leaf.serial_number:X}"
        if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            reason = f", reason {single.revocation_reason.name}" if single.revocation_reason else ""
            detail = f"OCSP responder says {serial} was revoked on {single.revocation_time_utc}{reason}"
            return RevocationResult("ocsp", "revoked", url, detail)
        if single.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
            return RevocationResult("ocsp", "unknown", url, f"OCSP responder does not know {serial}")
        return RevocationResult("ocsp", "good", url, f"OCSP responder says {serial} is good")

    def by_crl(self, url: str) -> RevocationResult:
        """The verified CRL at *url*'s verdict on the leaf."""
        body = _fetch(self.session, "GET", url, timeout=self.timeout, limit=MAX_RESPONSE_BYTES)
        crl = None
        for loader in (x509.load_der_x509_crl, x509.load_pem_x509_crl):
            try:
                crl = loader(body)
                break
            except ValueError:
                continue
        if crl is None:
            raise _Failed("error", f"{url} did not answer with a CRL")
        if crl.issuer != self.issuer.subject or not signature_valid(
            self.issuer.public_key(), crl.signature, crl.tbs_certlist_bytes, crl.signature_hash_algorithm
        ):
            raise _Failed(
                "error",
                f"the CRL at {url} is not signed by the issuer {self.issuer.subject.rfc4514_string()}",
            )
        if crl.next_update_utc is not None and crl.next_update_utc < self.now - CLOCK_SKEW:
            raise _Failed("error", f"the CRL at {url} is stale (next update {crl.next_update_utc})")
        entry = crl.get_revoked_certificate_by_serial_number(self.leaf.serial_number)
        serial = f"serial {self.leaf.serial_number:X}"
        if entry is not None:
            return RevocationResult(
                "crl", "revoked", url, f"the CRL lists {serial}, revoked on {entry.revocation_date_utc}"
            )
        return RevocationResult("crl", "good", url, f"the CRL does not list {serial}")


def _first_answer(
    kind: Method, urls: Sequence[str], attempt: Callable[[str], RevocationResult]
) -> RevocationResult:
    """Try each URL; the first answer wins, else the first failure (with the others noted)."""
    failures: list[tuple[str, _Failed]] = []
    for url in urls:
        try:
            return attempt(url)
        except _Failed as exc:
            failures.append((url, exc))
    url, first = failures[0]
    extra = f" (and {len(failures) - 1} more {kind.upper()} URL(s) failed)" if len(failures) > 1 else ""
    return RevocationResult(kind, first.status, url, first.detail + extra)


def check_revocation(
    chain_pem: Sequence[str],
    session: requests.Session,
    *,
    timeout: float,
    now: dt.datetime | None = None,
) -> RevocationResult:
    """Revocation status of the chain's leaf (see the module docstring for the OCSP -> CRL policy)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if not chain_pem:
        return RevocationResult("none", "error", None, "no certificate to check")
    try:
        chain = [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in chain_pem]
    except ValueError as exc:
        return RevocationResult("none", "error", None, f"the certificate chain could not be parsed: {exc}")
    leaf = chain[0]
    ocsp_urls = [
        u for u in _access_urls(leaf, AuthorityInformationAccessOID.OCSP) if u.lower().startswith("http")
    ]
    crl_urls = [u for u in _crl_urls(leaf) if u.lower().startswith("http")]
    if not ocsp_urls and not crl_urls:
        return RevocationResult(
            "none",
            "unknown",
            None,
            "the certificate names no HTTP OCSP responder and no HTTP CRL distribution point",
        )
    try:
        issuer = _find_issuer(leaf, chain[1:], session, timeout)
    except _Failed as exc:
        return RevocationResult("ocsp" if ocsp_urls else "crl", exc.status, None, exc.detail)

    query = _StatusQuery(leaf, issuer, session, timeout, now)
    if not ocsp_urls:
        return _first_answer("crl", crl_urls, query.by_crl)
    result = _first_answer("ocsp", ocsp_urls, query.by_ocsp)
    if result.status in ("good", "revoked", "unknown") or not crl_urls:
        return result
    fallback = _first_answer("crl", crl_urls, query.by_crl)
    if fallback.status in ("good", "revoked"):
        return replace(fallback, detail=f"{fallback.detail} (OCSP failed: {result.detail})")
    return replace(result, detail=f"{result.detail}; CRL fallback failed too: {fallback.detail}")

"""The verdict on a certificate chain: every fault of it, judged from the PEM text alone.

Pure functions over :mod:`cryptography` objects (no socket, no file): the TLS channel fetches a
chain, the checks judge it here. :func:`verify_chain` reports each fault as its own problem
(untrusted, expired, not-yet-valid, name-mismatch, weak-key, weak-signature, self-signed) instead
of one opaque handshake error; path building, signature and name matching are the helpers it uses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from cas_conformance.domain.records.dns import is_ip_literal

MAX_PATH_LENGTH = 8
WEAK_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.RSA_WITH_MD5: "MD5",
}


@dataclass(frozen=True)
class ChainProblem:
    """One fault: ``code`` is untrusted, expired, not-yet-valid, name-mismatch, weak-key,
    weak-signature or self-signed; ``message`` names the certificate concerned."""

    code: str
    message: str


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    problems: tuple[ChainProblem, ...]
    leaf_subject: str | None
    leaf_names: tuple[str, ...]
    not_after: dt.datetime | None
    issuer: str | None
    thumbprint: str | None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "leaf_subject": self.leaf_subject,
            "leaf_names": list(self.leaf_names),
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "issuer": self.issuer,
            "thumbprint": self.thumbprint,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChainVerdict:
        not_after = data["not_after"]
        return cls(
            ok=bool(data["ok"]),
            problems=tuple(ChainProblem(str(p["code"]), str(p["message"])) for p in data["problems"]),
            leaf_subject=data["leaf_subject"],
            leaf_names=tuple(str(n) for n in data["leaf_names"]),
            not_after=dt.datetime.fromisoformat(not_after) if not_after else None,
            issuer=data["issuer"],
            thumbprint=data["thumbprint"],
        )


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 of the DER certificate, upper-case hex without separators (as Windows shows it)."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _common_names(cert: x509.Certificate) -> list[str]:
    return [str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def leaf_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The names a client matches: SAN dNSNames and IP addresses, or the CN when there is no SAN."""
    san = _san(cert)
    if san is None:
        return tuple(_common_names(cert))
    dns = san.get_values_for_type(x509.DNSName)
    return tuple(dns) + tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if "*" not in pattern:
        return pattern == host
    labels = pattern.split(".")
    if labels[0] != "*" or "*" in ".".join(labels[1:]) or len(labels) < 3:
        return False
    host_labels = host.split(".")
    return len(host_labels) == len(labels) and host_labels[0] != "" and host_labels[1:] == labels[1:]


def name_matches(cert: x509.Certificate, server_name: str) -> bool:
    """RFC 6125 matching: SAN dNSName (one whole left-most ``*`` label), SAN iPAddress; CN only without SAN.

    A name that is not a valid IDN is compared as given (and so simply does not match).
    """
    host = server_name.lower().rstrip(".")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    san = _san(cert)
    if is_ip_literal(host):
        if san is None:
            return host in _common_names(cert)
        return any(ipaddress.ip_address(host) == ip for ip in san.get_values_for_type(x509.IPAddress))
    patterns = _common_names(cert) if san is None else san.get_values_for_type(x509.DNSName)
    return any(_dns_match(pattern, host) for pattern in patterns)


def signature_valid(
    key: Any, signature: bytes, data: bytes, digest: hashes.HashAlgorithm | None, rsa_padding: Any = None
) -> bool:
    """True when *key* verifies *signature* over *data* (RSA PKCS#1 v1.5 unless *rsa_padding*, ECDSA,
    DSA, EdDSA); weak hashes such as SHA-1 and MD5 are verified too, judging them is the caller's job."""
    try:
        if isinstance(key, rsa.RSAPublicKey) and digest is not None:
            pad = (
                rsa_padding
                if isinstance(rsa_padding, (padding.PKCS1v15, padding.PSS))
                else padding.PKCS1v15()
            )
            key.verify(signature, data, pad, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey) and digest is not None:
            key.verify(signature, data, ec.ECDSA(digest))
        elif isinstance(key, dsa.DSAPublicKey) and digest is not None:
            key.verify(signature, data, digest)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


@functools.lru_cache(maxsize=4096)
def is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name matches and *issuer*'s key verifies the signature (SHA-1 and MD5 included).
    Remembered per pair: every chain of a run ends in the same few intermediates and roots."""
    if cert.issuer != issuer.subject:
        return False
    try:
        digest = cert.signature_hash_algorithm
        rsa_padding = cert.signature_algorithm_parameters
    except (UnsupportedAlgorithm, ValueError):
        return False
    return signature_valid(
        issuer.public_key(), cert.signature, cert.tbs_certificate_bytes, digest, rsa_padding
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _same(a: x509.Certificate, b: x509.Certificate) -> bool:
    return a.subject == b.subject and a.public_key() == b.public_key()


def _build_path(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]
) -> tuple[list[x509.Certificate], x509.Certificate | None]:
    """Leaf -> sent intermediates -> a trust root. Returns the path (without the root) and the root."""
    path = [chain[0]]
    for _ in range(MAX_PATH_LENGTH):
        current = path[-1]
        for root in roots:
            if _same(current, root):
                return path[:-1] or path, root
            if is_issued_by(current, root):
                return path, root
        candidates = [c for c in chain[1:] if _is_ca(c) and not any(c is p for p in path)]
        issuer = next((c for c in candidates if is_issued_by(current, c)), None)
        if issuer is None:
            return path, None
        path.append(issuer)
    return path, None


def _key_problem(cert: x509.Certificate) -> str | None:
    key = cert.public_key()
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)) and key.key_size < 2048:
        return f"{type(key).__name__[:3].upper()} {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        return f"EC {key.curve.name} ({key.curve.key_size} bits)"
    return None


@functools.lru_cache(maxsize=4096)
def _load_strictly(pem: str) -> x509.Certificate:
    """Load a certificate and parse every part the checks read now: cryptography parses
    extensions lazily, so a malformed one would otherwise raise in the middle of a check."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    for extension in cert.extensions:
        _ = extension.value
    _ = (cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), cert.public_key())
    _ = (cert.signature_hash_algorithm, cert.not_valid_before_utc, cert.not_valid_after_utc)
    return cert


def verify_chain(
    chain_pem: Sequence[str], server_name: str, *, trust_roots: Sequence[x509.Certificate], at: dt.datetime
) -> ChainVerdict:
    """Every fault of *chain_pem* (leaf first) for *server_name* at time *at*, each as its own problem.

    A self-signed leaf is reported as ``self-signed`` (not also ``untrusted``) unless it is itself in
    *trust_roots*, which counts as trusted. Self-signatures (roots) are never judged for ``weak-signature``.
    """
    if at.tzinfo is None:
        raise ValueError("verify_chain: 'at' must be timezone-aware (for example datetime.now(timezone.utc))")
    if not chain_pem:
        problem = ChainProblem("untrusted", "the server sent no certificate")
        return ChainVerdict(False, (problem,), None, (), None, None, None)
    try:
        chain = [_load_strictly(pem) for pem in chain_pem]
    except (ValueError, UnsupportedAlgorithm, x509.DuplicateExtension) as exc:
        problem = ChainProblem("untrusted", f"a certificate in the chain could not be parsed: {exc}")
        return ChainVerdict(False, (problem,), None, (), None, None, None)
    leaf = chain[0]
    problems: list[ChainProblem] = []
    path, root = _build_path(chain, trust_roots)

    def role(cert: x509.Certificate) -> str:
        kind = "leaf" if cert is leaf else ("root" if cert.issuer == cert.subject else "intermediate")
        return f"{kind} certificate {cert.subject.rfc4514_string()}"

    if root is None:
        if leaf.issuer == leaf.subject and is_issued_by(leaf, leaf):
            problems.append(ChainProblem("self-signed", f"the {role(leaf)} is self-signed and not trusted"))
        else:
            end = path[-1]
            if end.issuer == end.subject:
                reason = f"the chain ends at the {role(end)}, which is not in the trust store"
            else:
                reason = (
                    f"the chain ends at the {role(end)}, whose issuer {end.issuer.rfc4514_string()} is "
                    "neither trusted nor sent by the server (missing intermediate?)"
                )
            problems.append(ChainProblem("untrusted", f"no path to a trusted root: {reason}"))
    dated = path + ([root] if root is not None and not any(root is p for p in path) else [])
    for cert in dated:
        if at > cert.not_valid_after_utc:
            problems.append(
                ChainProblem("expired", f"the {role(cert)} expired on {cert.not_valid_after_utc}")
            )
        elif at < cert.not_valid_before_utc:
            problems.append(
                ChainProblem(
                    "not-yet-valid", f"the {role(cert)} is valid only from {cert.not_valid_before_utc}"
                )
            )
    names = leaf_names(leaf)
    if not name_matches(leaf, server_name):
        listed = ", ".join(names) or "none"
        problems.append(
            ChainProblem("name-mismatch", f"{server_name} is not among the certificate's names: {listed}")
        )
    for cert in path:
        if cert is root:
            continue
        weak_key = _key_problem(cert)
        if weak_key:
            problems.append(ChainProblem("weak-key", f"the {role(cert)} has a weak key: {weak_key}"))
        weak_hash = WEAK_SIGNATURES.get(cert.signature_algorithm_oid)
        if weak_hash and cert.issuer != cert.subject:
            problems.append(ChainProblem("weak-signature", f"the {role(cert)} is signed with {weak_hash}"))
    return ChainVerdict(
        ok=not problems,
        problems=tuple(problems),
        leaf_subject=leaf.subject.rfc4514_string(),
        leaf_names=names,
        not_after=leaf.not_valid_after_utc,
        issuer=leaf.issuer.rfc4514_string(),
        thumbprint=thumbprint(leaf),
    )

"""TLS channel: fetch a server's certificate chain, then judge it ourselves.

The handshake (:func:`fetch_chain`) deliberately verifies nothing and accepts weak algorithms
(pyOpenSSL at ``@SECLEVEL=0``, TLS 1.0 and up, as Exchange 2010 on Windows 2008 R2 speaks), so a
broken chain is still *fetched* and every one of its faults reported by :func:`verify_chain`
instead of a single opaque handshake error. Both return plain, JSON-serialisable data: the channel
gathers facts, the checks decide pass or fail.
"""

from __future__ import annotations

import _ssl
import contextlib
import datetime as dt
import functools
import ipaddress
import logging
import re
import select
import socket
import ssl
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from OpenSSL import SSL

from cas_conformance.channels.dns import is_ip_literal
from cas_conformance.errors import CasConformanceError

log = logging.getLogger(__name__)

MAX_PATH_LENGTH = 8
CLOSE_WAIT = 2.0
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
WEAK_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.RSA_WITH_MD5: "MD5",
}


class TrustStoreError(CasConformanceError):
    """The trust bundle (``tls_ca_bundle``) is missing or holds no readable certificate."""


@dataclass(frozen=True)
class TlsHandshake:
    """What one handshake returned: the chain as sent (leaf first, PEM), or why there is none."""

    server_name: str
    address: str
    port: int
    chain_pem: tuple[str, ...]
    protocol: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "server_name": self.server_name,
            "address": self.address,
            "port": self.port,
            "chain_pem": list(self.chain_pem),
            "protocol": self.protocol,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TlsHandshake:
        return cls(
            server_name=str(data["server_name"]),
            address=str(data["address"]),
            port=int(data["port"]),
            chain_pem=tuple(str(pem) for pem in data["chain_pem"]),
            protocol=None if data["protocol"] is None else str(data["protocol"]),
            error=None if data["error"] is None else str(data["error"]),
        )


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


def _describe_ssl_error(exc: SSL.Error) -> str:
    if isinstance(exc, SSL.ZeroReturnError):
        return "the server closed the connection"
    if isinstance(exc, SSL.SysCallError):
        code = exc.args[0] if exc.args else None
        if code == -1:
            return "the server closed the connection during the handshake"
        return f"connection error during the handshake: {exc.args[1] if len(exc.args) > 1 else exc}"
    reasons = [str(item[2]) for item in (exc.args[0] if exc.args else []) if isinstance(item, tuple)]
    return "; ".join(reasons) or str(exc)


def chain_from_socket(
    server_name: str, sock: ssl.SSLSocket, *, max_chain_bytes: int = 1_000_000
) -> TlsHandshake | None:
    """The chain a completed handshake of the standard library received, so a connection made
    anyway (an HTTP probe) serves as the name's one handshake; None when the runtime cannot say
    (the peer's full chain is public API from Python 3.13, ``_sslobj`` before)."""
    public = getattr(sock, "get_unverified_chain", None)
    private = getattr(getattr(sock, "_sslobj", None), "get_unverified_chain", None)
    getter = public or private
    if getter is None:
        return None
    try:
        chain = getter() or []
        ders = [item if isinstance(item, bytes) else item.public_bytes(_ssl.ENCODING_DER) for item in chain]
        address, port = sock.getpeername()[:2]
    except (OSError, ValueError, AttributeError):
        return None
    if not ders:
        return None
    if sum(len(der) for der in ders) > max_chain_bytes:
        return TlsHandshake(
            server_name,
            str(address),
            int(port),
            (),
            sock.version(),
            f"certificate chain larger than {max_chain_bytes} bytes",
        )
    pems = tuple(ssl.DER_cert_to_PEM_cert(der) for der in ders)
    return TlsHandshake(server_name, str(address), int(port), pems, sock.version(), None)


def fetch_chain(
    server_name: str, connect: tuple[str, int], *, timeout: float, max_chain_bytes: int = 1_000_000
) -> TlsHandshake:
    """Connect to *connect* (resolved address, port), handshake with SNI *server_name*, return the chain.

    Never raises for network faults: refused, timed out (the whole handshake honours *timeout*)
    and handshake failures come back in ``error``.
    """
    address, port = connect
    sni: bytes | None = None
    if not is_ip_literal(server_name):
        try:
            sni = server_name.rstrip(".").encode("idna")
        except UnicodeError:
            return TlsHandshake(server_name, address, port, (), None, f"invalid server name {server_name!r}")

    def result(
        chain: tuple[str, ...] = (), protocol: str | None = None, error: str | None = None
    ) -> TlsHandshake:
        return TlsHandshake(server_name, address, port, chain, protocol, error)

    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except ConnectionRefusedError:
        return result(error="connection refused")
    except TimeoutError:
        return result(error=f"timed out after {timeout:g} s (TCP connect)")
    except OSError as exc:
        return result(error=f"connection failed: {exc.strerror or exc}")
    with sock:
        sock.setblocking(False)
        sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )  # Finished + close_notify without Nagle's wait
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        context.set_min_proto_version(SSL.TLS1_VERSION)
        context.set_verify(SSL.VERIFY_NONE)
        conn = SSL.Connection(context, sock)
        if sni is not None:
            conn.set_tlsext_host_name(sni)
        conn.set_connect_state()
        while True:
            remaining = deadline - time.monotonic()
            try:
                conn.do_handshake()
                break
            except SSL.WantReadError:
                ready = select.select([sock], [], [], max(remaining, 0))[0]
            except SSL.WantWriteError:
                ready = select.select([], [sock], [], max(remaining, 0))[1]
            except SSL.Error as exc:
                return result(error=f"TLS handshake failed: {_describe_ssl_error(exc)}")
            except OSError as exc:
                return result(error=f"TLS handshake failed: {exc.strerror or exc}")
            if not ready:
                return result(error=f"timed out after {timeout:g} s (TLS handshake)")
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
        ders = [cert.public_bytes(serialization.Encoding.DER) for cert in chain]
        if sum(len(der) for der in ders) > max_chain_bytes:
            return result(error=f"certificate chain larger than {max_chain_bytes} bytes")
        pems = tuple(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in chain)
        protocol = conn.get_protocol_version_name()
        _close_politely(conn, sock, min(deadline, time.monotonic() + CLOSE_WAIT))
        return result(pems, protocol)


def _close_politely(conn: SSL.Connection, sock: socket.socket, deadline: float) -> None:
    """Send close_notify and wait (briefly) for the server to close too.

    Besides being polite to the server, this means that when fetch_chain returns, the server has
    finished its side of the handshake (a TLS 1.3 server completes it only on the client's
    Finished), so the lab's handshake counters are exact. Any error here just ends the wait.
    """
    try:
        conn.shutdown()
        while (remaining := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], remaining)[0]:
                return
            try:
                conn.recv(16384)
            except SSL.WantReadError:
                continue
    except (SSL.Error, OSError) as exc:  # close_notify, EOF or reset from the server: the end we wait for
        log.debug("closing the TLS connection to %s: %r", conn.get_servername(), exc)


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


def load_trust_roots(bundle_path: str | None) -> list[x509.Certificate]:
    """The certificates of a PEM bundle; with None the system store (certifi's, as requests uses).

    A certificate that cannot be parsed is left out (so not trusted, which fails closed) and logged;
    a bundle with no usable certificate at all is an error.
    """
    path = bundle_path or certifi.where()
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise TrustStoreError(f"cannot read the trust bundle {path}: {exc.strerror or exc}") from exc
    blocks = _PEM_CERTIFICATE.findall(data)
    roots: list[x509.Certificate] = []
    skipped: list[str] = []
    with warnings.catch_warnings():
        # certifi ships roots with a non-positive serial; they parse, cryptography only warns about them.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for index, block in enumerate(blocks, start=1):
            try:
                roots.append(x509.load_pem_x509_certificate(block))
            except ValueError as exc:
                skipped.append(f"#{index}: {exc}")
    if skipped:
        log.warning(
            "%s: %d certificate(s) could not be parsed and are not trusted: %s", path, len(skipped), skipped
        )
    if not roots:
        raise TrustStoreError(f"{path} is not a PEM bundle of certificates (no usable certificate found)")
    return roots

"""TLS channel: fetch a server's certificate chain; :mod:`cas_conformance.domain.chain_verdict` judges it.

The handshake (:func:`fetch_chain`) deliberately verifies nothing and accepts weak algorithms
(pyOpenSSL at ``@SECLEVEL=0``, TLS 1.0 and up, as Exchange 2010 on Windows 2008 R2 speaks), so a
broken chain is still *fetched* and every one of its faults reported by
:func:`~cas_conformance.domain.chain_verdict.verify_chain` instead of a single opaque handshake error.
The handshake comes back as a plain :class:`~cas_conformance.domain.records.tls.TlsHandshake` record: the
channel gathers facts, the checks decide pass or fail (and import nothing from here). The verdict
and the record are re-exported here for older imports.
"""

from __future__ import annotations

import _ssl
import logging
import re
import selectors
import socket
import ssl
import time
import warnings

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from OpenSSL import SSL

from cas_conformance.domain.chain_verdict import (
    MAX_PATH_LENGTH,
    WEAK_SIGNATURES,
    ChainProblem,
    ChainVerdict,
    is_issued_by,
    leaf_names,
    name_matches,
    signature_valid,
    thumbprint,
    verify_chain,
)
from cas_conformance.domain.records.dns import is_ip_literal
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.errors import CasConformanceError

__all__ = [
    "MAX_PATH_LENGTH",
    "WEAK_SIGNATURES",
    "ChainProblem",
    "ChainVerdict",
    "TlsHandshake",
    "TrustStoreError",
    "chain_from_socket",
    "fetch_chain",
    "is_issued_by",
    "leaf_names",
    "load_trust_roots",
    "name_matches",
    "signature_valid",
    "thumbprint",
    "verify_chain",
]

log = logging.getLogger(__name__)

CLOSE_WAIT = 2.0
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class TrustStoreError(CasConformanceError):
    """The trust bundle (``tls_ca_bundle``) is missing or holds no readable certificate."""


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
                ready = _ready(sock, write=False, timeout=remaining)
            except SSL.WantWriteError:
                ready = _ready(sock, write=True, timeout=remaining)
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


def _ready(sock: socket.socket, *, write: bool, timeout: float) -> bool:
    """True once *sock* can be read (or written) within *timeout* seconds. A selector (epoll on
    Linux), not select(): a large run's descriptors go past select()'s limit of 1,024."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE if write else selectors.EVENT_READ)
        return bool(selector.select(max(timeout, 0)))


def _close_politely(conn: SSL.Connection, sock: socket.socket, deadline: float) -> None:
    """Send close_notify and wait (briefly) for the server to close too.

    Besides being polite to the server, this means that when fetch_chain returns, the server has
    finished its side of the handshake (a TLS 1.3 server completes it only on the client's
    Finished), so the lab's handshake counters are exact. Any error here just ends the wait.
    """
    try:
        conn.shutdown()
        while (remaining := deadline - time.monotonic()) > 0:
            if not _ready(sock, write=False, timeout=remaining):
                return
            try:
                conn.recv(16384)
            except SSL.WantReadError:
                continue
    except (SSL.Error, OSError) as exc:  # close_notify, EOF or reset from the server: the end we wait for
        log.debug("closing the TLS connection to %s: %r", conn.get_servername(), exc)


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

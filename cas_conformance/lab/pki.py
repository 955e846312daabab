"""The lab's certificate authority: a root, an issuing intermediate and leaves with exact names and dates.

Everything is generated in memory on every run; no key or certificate is ever checked in. The
intermediate and every leaf carry real AIA (OCSP + caIssuers) and CRL distribution point URLs, and
the :class:`Pki` answers OCSP requests and produces fresh CRLs itself, so ``servers.revocation`` can serve
revocation over HTTP exactly as a public CA would.

Faults are built from the same calls: an expired leaf is ``issue(..., not_after=<past>)``, a weak
one ``key_type=KeyType.RSA1024``, a SHA-1 chain ``Pki.generate(..., intermediate_hash=SHA1)``.
cryptography refuses to *sign* with SHA-1, so SHA-1 certificates are produced by signing with
SHA-256 and re-signing the to-be-signed bytes with the algorithm identifier swapped (RSA issuers).

Key generation (RSA 2048) takes tens of milliseconds; a lab with hundreds of hosts should create
one key with :func:`generate_key` and pass it as ``issue(..., key=key)`` to every leaf.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from cas_conformance.errors import LabError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
CaName = Literal["root", "intermediate"]

_SHA256_RSA_ALGID = bytes.fromhex("300d06092a864886f70d01010b0500")
_SHA1_RSA_ALGID = bytes.fromhex("300d06092a864886f70d0101050500")
_WEAK_SIGNATURE_OIDS = {
    x509.SignatureAlgorithmOID.RSA_WITH_SHA1,
    x509.SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    x509.SignatureAlgorithmOID.RSA_WITH_MD5,
}


class KeyType(Enum):
    RSA2048 = "rsa2048"
    RSA1024 = "rsa1024"
    EC256 = "ec256"


class SignatureHash(Enum):
    SHA256 = "sha256"
    SHA1 = "sha1"


def generate_key(key_type: KeyType = KeyType.RSA2048) -> PrivateKey:
    """A fresh private key of *key_type* (generate once, pass to ``issue(key=...)`` to reuse)."""
    if key_type is KeyType.EC256:
        return ec.generate_private_key(ec.SECP256R1())
    size = 2048 if key_type is KeyType.RSA2048 else 1024
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _sign(builder: x509.CertificateBuilder, key: PrivateKey, digest: SignatureHash) -> x509.Certificate:
    """Sign *builder*; for SHA-1, re-sign the TBS bytes by hand (cryptography refuses SHA-1)."""
    cert = builder.sign(key, hashes.SHA256())
    if digest is SignatureHash.SHA256:
        return cert
    if not isinstance(key, rsa.RSAPrivateKey):
        raise LabError("SHA-1 signatures are only produced by RSA issuers; use an RSA key for that CA")
    tbs = cert.tbs_certificate_bytes
    if tbs.count(_SHA256_RSA_ALGID) != 1:
        raise LabError("cannot locate the signature algorithm in the certificate to re-sign it with SHA-1")
    tbs = tbs.replace(_SHA256_RSA_ALGID, _SHA1_RSA_ALGID)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    der = _der(0x30, tbs + _SHA1_RSA_ALGID + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None:
        raise LabError(f"{what} must be timezone-aware (for example datetime.now(timezone.utc))")
    return value


def _name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def is_weak_for_openssl(chain: Sequence[x509.Certificate]) -> bool:
    """True when OpenSSL's default security level would refuse to load *chain* (SHA-1/MD5, small keys)."""
    for cert in chain:
        if cert.signature_algorithm_oid in _WEAK_SIGNATURE_OIDS:
            return True
        public_key = cert.public_key()
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
            return True
        if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size < 256:
            return True
    return False


@dataclass(frozen=True)
class IssuedCert:
    """A certificate with its private key and the chain a server sends (leaf first, no root)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the DER certificate in upper-case hex, as Windows and Get-ExchangeCertificate show it."""
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def write(self, dirpath: str | Path) -> tuple[Path, Path]:
        """Write ``<thumbprint>.chain.pem`` (leaf + intermediate) and ``<thumbprint>.key.pem``."""
        directory = Path(dirpath)
        certfile = directory / f"{self.thumbprint}.chain.pem"
        keyfile = directory / f"{self.thumbprint}.key.pem"
        certfile.write_bytes(self.chain_pem())
        keyfile.write_bytes(self.key_pem())
        keyfile.chmod(0o600)
        return certfile, keyfile

    def ssl_context(self, *, allow_sha1: bool = False) -> ssl.SSLContext:
        """A server context presenting this chain.

        OpenSSL 3 (and Python's default cipher string, security level 2) refuse to load SHA-1
        signatures and RSA keys under 2048 bits. Such chains are what the lab simulates, so the
        security level is lowered to 0 whenever the chain needs it; ``allow_sha1=True`` lowers it
        regardless (it also lets the handshake itself use SHA-1 signature algorithms).
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if allow_sha1 or is_weak_for_openssl(self.chain):
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with tempfile.TemporaryDirectory(prefix="cas-lab-cert-") as tmp:
            certfile, keyfile = self.write(tmp)
            context.load_cert_chain(certfile, keyfile)
        return context


def self_signed(
    names: Sequence[str],
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_type: KeyType = KeyType.RSA2048,
    common_name: str | None = None,
    key: PrivateKey | None = None,
) -> IssuedCert:
    """A self-signed leaf like Exchange's default certificate (``CN=<server>``, short name + FQDN)."""
    key = key or generate_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or names[0])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_aware(not_before, "not_before"))
        .not_valid_after(_aware(not_after, "not_after"))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    cert = _sign(builder, key, SignatureHash.SHA256)
    return IssuedCert(cert=cert, key=key, chain=(cert,))


@dataclass
class Pki:
    """A two-tier CA (root -> issuing intermediate) that also answers OCSP and produces CRLs."""

    organisation: str
    root: x509.Certificate
    root_key: PrivateKey
    intermediate: x509.Certificate
    intermediate_key: PrivateKey
    ocsp_url: str
    crl_base_url: str
    _issued: dict[int, x509.Certificate] = field(default_factory=dict, repr=False)
    _revoked: dict[int, dt.datetime] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def generate(
        cls,
        organisation: str,
        *,
        ocsp_url: str,
        crl_base_url: str,
        intermediate_hash: SignatureHash = SignatureHash.SHA256,
        now: dt.datetime | None = None,
    ) -> Pki:
        """Root (self-signed, 10 years) and intermediate (5 years) for *organisation*.

        The intermediate points at ``<crl_base_url>/root.crl`` and ``<crl_base_url>/root.crt``;
        leaves at ``<crl_base_url>/intermediate.crl`` and ``.crt``; both at *ocsp_url*.
        """
        now = _aware(now, "now") if now else dt.datetime.now(dt.timezone.utc)
        start = now - dt.timedelta(hours=1)
        root_key = generate_key(KeyType.RSA2048)
        root_name = _name(organisation, f"{organisation} Root CA")
        ca_usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
        root_builder = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(now + dt.timedelta(days=3652))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ca_usage, critical=True)
            .add_extension(root_ski, critical=False)
        )
        root = _sign(root_builder, root_key, SignatureHash.SHA256)
        base = crl_base_url.rstrip("/")
        inter_key = generate_key(KeyType.RSA2048)
        inter_builder = (
            x509.CertificateBuilder()
            .subject_name(_name(organisation, f"{organisation} Issuing CA"))
            .issuer_name(root_name)
            .public_key(inter_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(now + dt.timedelta(days=1826))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(ca_usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), False)
            .add_extension(_aia(ocsp_url, f"{base}/root.crt"), critical=False)
            .add_extension(_crl_dp(f"{base}/root.crl"), critical=False)
        )
        intermediate = _sign(inter_builder, root_key, intermediate_hash)
        pki = cls(organisation, root, root_key, intermediate, inter_key, ocsp_url, base)
        pki._issued[intermediate.serial_number] = intermediate
        return pki

    def ca_cert(self, ca: CaName) -> x509.Certificate:
        return self.root if ca == "root" else self.intermediate

    def crl_url(self, ca: CaName) -> str:
        return f"{self.crl_base_url}/{ca}.crl"

    def ca_issuers_url(self, ca: CaName) -> str:
        return f"{self.crl_base_url}/{ca}.crt"

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        names: Sequence[str],
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
        key_type: KeyType = KeyType.RSA2048,
        ip_addresses: Sequence[str] = (),
        common_name: str | None = None,
        key: PrivateKey | None = None,
        include_ocsp_url: bool = True,
        include_crl_url: bool = True,
        signature_hash: SignatureHash = SignatureHash.SHA256,
    ) -> IssuedCert:
        """A leaf for *names* (SAN dNSName, plus *ip_addresses* as SAN iPAddress) signed by the intermediate.

        Dates are used exactly as given (past dates make an expired leaf). *key* reuses an existing
        private key (then *key_type* is ignored); ``include_ocsp_url=False`` / ``include_crl_url=False``
        omit the leaf's OCSP URL / CRL distribution point.
        """
        if not names and not ip_addresses:
            raise LabError("issue() needs at least one DNS name or IP address")
        if _aware(not_after, "not_after") <= _aware(not_before, "not_before"):
            raise LabError(f"not_after ({not_after}) must be later than not_before ({not_before})")
        key = key or generate_key(key_type)
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        inter_ski = self.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        is_rsa = isinstance(key, rsa.RSAPrivateKey)
        usage = x509.KeyUsage(True, False, is_rsa, False, False, False, False, False, False)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(self.organisation, common_name or (names[0] if names else ip_addresses[0])))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(inter_ski), False)
            .add_extension(
                _aia(self.ocsp_url if include_ocsp_url else None, self.ca_issuers_url("intermediate")), False
            )
        )
        if include_crl_url:
            builder = builder.add_extension(_crl_dp(self.crl_url("intermediate")), critical=False)
        cert = _sign(builder, self.intermediate_key, signature_hash)
        with self._lock:
            self._issued[cert.serial_number] = cert
        return IssuedCert(cert=cert, key=key, chain=(cert, self.intermediate))

    def revoke(self, serial: int, *, at: dt.datetime | None = None) -> None:
        """Mark *serial* (a leaf, or the intermediate) revoked in the CRLs and OCSP answers."""
        with self._lock:
            if serial not in self._issued:
                raise LabError(f"serial {serial:x} was not issued by the {self.organisation} lab PKI")
            self._revoked[serial] = _aware(at, "at") if at else dt.datetime.now(dt.timezone.utc)

    def _issuer_of(self, serial: int) -> x509.Certificate | None:
        cert = self._issued.get(serial)
        if cert is None:
            return None
        return self.root if cert.issuer == self.root.subject else self.intermediate

    def crl(self, ca: CaName, *, now: dt.datetime | None = None) -> bytes:
        """A freshly signed DER CRL of *ca* (valid from one minute ago for seven days)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        issuer = self.ca_cert(ca)
        key = self.root_key if ca == "root" else self.intermediate_key
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(now - dt.timedelta(minutes=1))
            .next_update(now + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        )
        with self._lock:
            for serial, when in self._revoked.items():
                if self._issuer_of(serial) is issuer:
                    entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
                    builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_response(self, request_der: bytes, *, now: dt.datetime | None = None) -> bytes:
        """Answer a DER OCSP request: good/revoked/unknown, signed by the CA the request names.

        Requests about the intermediate's leaves are signed by the intermediate, about the
        intermediate by the root; requests naming neither CA get ``unknown`` signed by the
        intermediate. An unparsable request gets the ``malformedRequest`` response status.
        """
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        now = now or dt.datetime.now(dt.timezone.utc)
        signer, signer_key = self.intermediate, self.intermediate_key
        for ca, ca_key in ((self.intermediate, self.intermediate_key), (self.root, self.root_key)):
            if _cert_id_hashes(ca, request.hash_algorithm) == (
                request.issuer_name_hash,
                request.issuer_key_hash,
            ):
                signer, signer_key = ca, ca_key
                break
        with self._lock:
            known = self._issuer_of(request.serial_number) is signer
            revoked_at = self._revoked.get(request.serial_number) if known else None
        status = ocsp.OCSPCertStatus.GOOD if known else ocsp.OCSPCertStatus.UNKNOWN
        if revoked_at is not None:
            status = ocsp.OCSPCertStatus.REVOKED
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                request.issuer_name_hash,
                request.issuer_key_hash,
                request.serial_number,
                request.hash_algorithm,
                status,
                now - dt.timedelta(minutes=1),
                now + dt.timedelta(days=1),
                revoked_at,
                None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
        )
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                builder = builder.add_extension(extension.value, critical=False)
        return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _cert_id_hashes(ca: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """The (issuerNameHash, issuerKeyHash) an OCSP CertID carries for certificates issued by *ca*."""
    name_hash = hashes.Hash(algorithm)
    name_hash.update(ca.subject.public_bytes())
    spki = ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if not isinstance(ca.public_key(), rsa.RSAPublicKey):
        spki = ca.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    key_hash = hashes.Hash(algorithm)
    key_hash.update(spki)
    return name_hash.finalize(), key_hash.finalize()


def _aia(ocsp_url: str | None, ca_issuers_url: str) -> x509.AuthorityInformationAccess:
    descriptions = []
    if ocsp_url:
        descriptions.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
            )
        )
    descriptions.append(
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(ca_issuers_url)
        )
    )
    return x509.AuthorityInformationAccess(descriptions)


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    return x509.CRLDistributionPoints([point])

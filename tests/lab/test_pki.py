"""The lab PKI: exact names, dates and URLs; SHA-1 and weak keys on demand; CRLs and OCSP answers."""

from __future__ import annotations

import base64
import datetime as dt
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from cas_conformance.errors import LabError
from cas_conformance.lab.pki import IssuedCert, KeyType, Pki, SignatureHash, generate_key, self_signed
from cas_conformance.lab.servers.http import HttpServer
from cas_conformance.lab.servers.revocation import pki_handler

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.generate(
        "Contoso", ocsp_url="http://pki.contoso.lab/ocsp", crl_base_url="http://pki.contoso.lab/crl/", now=NOW
    )


@pytest.fixture(scope="module")
def shared_key() -> rsa.RSAPrivateKey:
    key = generate_key(KeyType.RSA2048)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _leaf(
    pki: Pki,
    key: rsa.RSAPrivateKey,
    name: str,
    *,
    include_ocsp_url: bool = True,
    include_crl_url: bool = True,
) -> IssuedCert:
    return pki.issue(
        [name],
        not_before=NOW - DAY,
        not_after=NOW + 90 * DAY,
        key=key,
        include_ocsp_url=include_ocsp_url,
        include_crl_url=include_crl_url,
    )


def _aia(cert: x509.Certificate) -> dict[str, list[str]]:
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    labels = {
        AuthorityInformationAccessOID.OCSP: "OCSP",
        AuthorityInformationAccessOID.CA_ISSUERS: "caIssuers",
    }
    found: dict[str, list[str]] = {}
    for d in aia:
        found.setdefault(labels[d.access_method], []).append(d.access_location.value)
    return found


def _crl_dp(cert: x509.Certificate) -> list[str]:
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return [name.value for point in points for name in point.full_name or []]


def _rsa_public_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    return ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build().public_bytes(DER)


def test_root_and_intermediate_have_exact_names_dates_and_urls(pki: Pki) -> None:
    assert pki.root.subject.rfc4514_string() == "CN=Contoso Root CA,O=Contoso"
    assert pki.root.issuer == pki.root.subject
    assert pki.root.not_valid_before_utc == NOW - dt.timedelta(hours=1)
    assert pki.root.not_valid_after_utc == NOW + dt.timedelta(days=3652)
    assert pki.intermediate.subject.rfc4514_string() == "CN=Contoso Issuing CA,O=Contoso"
    pki.intermediate.verify_directly_issued_by(pki.root)
    assert pki.intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert _aia(pki.intermediate) == {
        "OCSP": ["http://pki.contoso.lab/ocsp"],
        "caIssuers": ["http://pki.contoso.lab/crl/root.crt"],
    }
    assert _crl_dp(pki.intermediate) == ["http://pki.contoso.lab/crl/root.crl"]
    assert pki.root_pem().startswith(b"-----BEGIN CERTIFICATE-----")


def test_leaf_carries_exact_names_dates_and_revocation_urls(pki: Pki, shared_key: rsa.RSAPrivateKey) -> None:
    issued = pki.issue(
        ["mail.contoso.lab", "owa.contoso.lab"],
        not_before=NOW - DAY,
        not_after=NOW + 365 * DAY,
        ip_addresses=["127.0.0.5"],
        common_name="Mail Server",
        key=shared_key,
    )
    cert = issued.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Mail Server"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.contoso.lab", "owa.contoso.lab"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.5"]
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (NOW - DAY, NOW + 365 * DAY)
    assert issued.chain == (cert, pki.intermediate)
    cert.verify_directly_issued_by(pki.intermediate)
    assert _aia(cert) == {
        "OCSP": ["http://pki.contoso.lab/ocsp"],
        "caIssuers": ["http://pki.contoso.lab/crl/intermediate.crt"],
    }
    assert _crl_dp(cert) == ["http://pki.contoso.lab/crl/intermediate.crl"]
    assert issued.serial == cert.serial_number
    assert re.fullmatch(r"[0-9A-F]{40}", issued.thumbprint)
    assert issued.thumbprint == cert.fingerprint(hashes.SHA1()).hex().upper()


def test_revocation_urls_can_be_left_out(pki: Pki, shared_key: rsa.RSAPrivateKey) -> None:
    no_ocsp = _leaf(pki, shared_key, "a.contoso.lab", include_ocsp_url=False)
    assert AuthorityInformationAccessOID.OCSP not in [
        d.access_method
        for d in no_ocsp.cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    ]
    no_crl = _leaf(pki, shared_key, "b.contoso.lab", include_crl_url=False)
    with pytest.raises(x509.ExtensionNotFound):
        no_crl.cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)


def test_key_types_and_key_reuse(pki: Pki, shared_key: rsa.RSAPrivateKey) -> None:
    weak = pki.issue(["weak.contoso.lab"], not_before=NOW, not_after=NOW + DAY, key_type=KeyType.RSA1024)
    weak_key = weak.cert.public_key()
    assert isinstance(weak_key, rsa.RSAPublicKey)
    assert weak_key.key_size == 1024
    ec_leaf = pki.issue(["ec.contoso.lab"], not_before=NOW, not_after=NOW + DAY, key_type=KeyType.EC256)
    ec_key = ec_leaf.cert.public_key()
    assert isinstance(ec_key, ec.EllipticCurvePublicKey)
    assert ec_key.curve.name == "secp256r1"
    first, second = (_leaf(pki, shared_key, n) for n in ("x.contoso.lab", "y.contoso.lab"))
    assert first.cert.public_key() == second.cert.public_key() == shared_key.public_key()
    assert first.serial != second.serial


def test_expired_leaf_is_issued_with_past_dates(pki: Pki, shared_key: rsa.RSAPrivateKey) -> None:
    expired = pki.issue(
        ["old.contoso.lab"], not_before=NOW - 400 * DAY, not_after=NOW - 35 * DAY, key=shared_key
    )
    assert expired.cert.not_valid_after_utc == NOW - 35 * DAY


@pytest.mark.parametrize(
    ("not_before", "not_after", "message"),
    [(NOW.replace(tzinfo=None), NOW + DAY, "timezone-aware"), (NOW, NOW - DAY, "must be later")],
)
def test_bad_dates_are_refused_with_what_to_do(
    pki: Pki, not_before: dt.datetime, not_after: dt.datetime, message: str
) -> None:
    with pytest.raises(LabError, match=message):
        pki.issue(["bad.contoso.lab"], not_before=not_before, not_after=not_after)


def test_a_leaf_needs_a_name(pki: Pki) -> None:
    with pytest.raises(LabError, match="at least one"):
        pki.issue([], not_before=NOW, not_after=NOW + DAY)


def test_sha1_intermediate_is_really_signed_with_sha1(tmp_path: Path) -> None:
    weak = Pki.generate(
        "Fabrikam",
        ocsp_url="http://pki.fabrikam.lab/ocsp",
        crl_base_url="http://pki.fabrikam.lab/crl",
        intermediate_hash=SignatureHash.SHA1,
    )
    inter = weak.intermediate
    assert inter.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA1
    root_key = weak.root.public_key()
    assert isinstance(root_key, rsa.RSAPublicKey)
    root_key.verify(inter.signature, inter.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1())
    now = dt.datetime.now(dt.timezone.utc)
    leaf = weak.issue(["sha1.fabrikam.lab"], not_before=now - DAY, not_after=now + DAY)
    with pytest.raises(ssl.SSLError):  # what the lab works around: OpenSSL's default level refuses SHA-1
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(*leaf.write(tmp_path))
    assert isinstance(leaf.ssl_context(), ssl.SSLContext)


def test_write_gives_files_for_load_cert_chain(
    pki: Pki, shared_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    issued = _leaf(pki, shared_key, "files.contoso.lab")
    certfile, keyfile = issued.write(tmp_path)
    assert len(x509.load_pem_x509_certificates(certfile.read_bytes())) == 2
    assert keyfile.stat().st_mode & 0o777 == 0o600
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile)


def test_self_signed_leaf_is_its_own_issuer() -> None:
    issued = self_signed(["EX01", "ex01.contoso.lab"], not_before=NOW, not_after=NOW + DAY)
    assert issued.cert.issuer == issued.cert.subject
    assert issued.chain == (issued.cert,)
    issued.cert.verify_directly_issued_by(issued.cert)


def test_crls_list_what_was_revoked_and_are_signed_by_their_ca(
    pki: Pki, shared_key: rsa.RSAPrivateKey
) -> None:
    leaf = _leaf(pki, shared_key, "revoke-me.contoso.lab")
    before = x509.load_der_x509_crl(pki.crl("intermediate"))
    assert before.get_revoked_certificate_by_serial_number(leaf.serial) is None
    pki.revoke(leaf.serial, at=NOW)
    after = x509.load_der_x509_crl(pki.crl("intermediate"))
    entry = after.get_revoked_certificate_by_serial_number(leaf.serial)
    assert entry is not None and entry.revocation_date_utc == NOW
    assert after.issuer == pki.intermediate.subject
    assert after.is_signature_valid(_rsa_public_key(pki.intermediate))
    root_crl = x509.load_der_x509_crl(pki.crl("root"))
    assert root_crl.is_signature_valid(_rsa_public_key(pki.root))
    assert root_crl.get_revoked_certificate_by_serial_number(leaf.serial) is None


def test_revoking_a_foreign_serial_is_refused(pki: Pki) -> None:
    with pytest.raises(LabError, match="not issued"):
        pki.revoke(12345)


def _answer(pki: Pki, request: bytes) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(pki.ocsp_response(request))
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return response


def test_ocsp_answers_good_then_revoked_signed_by_the_intermediate(
    pki: Pki, shared_key: rsa.RSAPrivateKey
) -> None:
    leaf = _leaf(pki, shared_key, "ocsp.contoso.lab")
    request = _ocsp_request(leaf.cert, pki.intermediate)
    good = _answer(pki, request)
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert good.serial_number == leaf.serial
    key = pki.intermediate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert good.signature_hash_algorithm is not None
    key.verify(good.signature, good.tbs_response_bytes, padding.PKCS1v15(), good.signature_hash_algorithm)
    pki.revoke(leaf.serial)
    assert _answer(pki, request).certificate_status == ocsp.OCSPCertStatus.REVOKED


def test_ocsp_answers_unknown_for_foreign_certificates_and_the_root_answers_for_the_intermediate(
    pki: Pki, shared_key: rsa.RSAPrivateKey
) -> None:
    other = Pki.generate("Woodgrove", ocsp_url="http://x/ocsp", crl_base_url="http://x/crl")
    foreign = _leaf(other, shared_key, "www.woodgrove.lab")
    assert _answer(pki, _ocsp_request(foreign.cert, other.intermediate)).certificate_status == (
        ocsp.OCSPCertStatus.UNKNOWN
    )
    about_intermediate = _answer(pki, _ocsp_request(pki.intermediate, pki.root))
    assert about_intermediate.certificate_status == ocsp.OCSPCertStatus.GOOD
    root_id = x509.SubjectKeyIdentifier.from_public_key(pki.root.public_key()).digest
    assert about_intermediate.responder_key_hash == root_id


def test_ocsp_echoes_the_nonce_and_refuses_garbage(pki: Pki, shared_key: rsa.RSAPrivateKey) -> None:
    leaf = _leaf(pki, shared_key, "nonce.contoso.lab")
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf.cert, pki.intermediate, hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .build()
    )
    answer = _answer(pki, request.public_bytes(DER))
    assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    garbage = ocsp.load_der_ocsp_response(pki.ocsp_response(b"not an ocsp request"))
    assert garbage.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.fixture
def served(pki: Pki) -> Iterator[str]:
    handler = pki_handler(pki)
    with HttpServer(["127.0.0.1"], handler) as server:
        yield f"http://127.0.0.1:{server.port}"
    handler.close()


def test_pki_handler_serves_ocsp_by_post_and_get_and_the_crls(
    pki: Pki, shared_key: rsa.RSAPrivateKey, served: str
) -> None:
    leaf = _leaf(pki, shared_key, "http.contoso.lab")
    request = _ocsp_request(leaf.cert, pki.intermediate)
    posted = requests.post(
        f"{served}/ocsp", data=request, headers={"Content-Type": "application/ocsp-request"}, timeout=5
    )
    assert posted.headers["Content-Type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(posted.content).certificate_status == ocsp.OCSPCertStatus.GOOD
    encoded = quote(base64.b64encode(request).decode(), safe="")
    fetched = requests.get(f"{served}/ocsp/{encoded}", timeout=5)
    assert ocsp.load_der_ocsp_response(fetched.content).serial_number == leaf.serial
    for ca in ("root", "intermediate"):
        crl = requests.get(f"{served}/crl/{ca}.crl", timeout=5)
        assert crl.headers["Content-Type"] == "application/pkix-crl"
        assert x509.load_der_x509_crl(crl.content).issuer == pki.ca_cert(ca).subject
        crt = requests.get(f"{served}/crl/{ca}.crt", timeout=5)
        assert x509.load_der_x509_certificate(crt.content) == pki.ca_cert(ca)


def test_pki_handler_refuses_unknown_paths_and_methods(served: str) -> None:
    assert requests.get(f"{served}/crl/other.crl", timeout=5).status_code == 404
    assert requests.post(f"{served}/crl/root.crl", timeout=5).status_code == 405
    bad = requests.get(f"{served}/ocsp/@@@", timeout=5)
    assert (
        ocsp.load_der_ocsp_response(bad.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )

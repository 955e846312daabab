"""TLS channel: real handshakes against the lab HTTPS server, one fault per certificate."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cas_conformance.channels.tls import (
    ChainVerdict,
    TlsHandshake,
    TrustStoreError,
    fetch_chain,
    leaf_names,
    load_trust_roots,
    name_matches,
    thumbprint,
    verify_chain,
)
from cas_conformance.lab import (
    HttpRequest,
    HttpResponse,
    HttpServer,
    HttpsServer,
    IssuedCert,
    KeyType,
    Pki,
    SignatureHash,
    generate_key,
    self_signed,
)

NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)


def _pki(organisation: str, intermediate_hash: SignatureHash = SignatureHash.SHA256) -> Pki:
    return Pki.generate(
        organisation,
        ocsp_url="http://pki.contoso.lab/ocsp",
        crl_base_url="http://pki.contoso.lab/crl",
        intermediate_hash=intermediate_hash,
    )


def _ok(_: HttpRequest) -> HttpResponse:
    return HttpResponse(200)


class Lab:
    """One HTTPS listener, one site per fault. Trusted: the Contoso and Contoso SHA1 roots, not Rogue."""

    def __init__(self) -> None:
        self.pki = _pki("Contoso")
        sha1_pki = _pki("Contoso SHA1", SignatureHash.SHA1)
        rogue_pki = _pki("Rogue")
        self.trusted = [self.pki.root, sha1_pki.root]
        key = generate_key(KeyType.RSA2048)

        def leaf(
            pki: Pki,
            name: str,
            *,
            not_before: dt.datetime = NOW - DAY,
            not_after: dt.datetime = NOW + 90 * DAY,
            key_type: KeyType | None = None,
        ) -> IssuedCert:
            if key_type is not None:
                return pki.issue([name], not_before=not_before, not_after=not_after, key_type=key_type)
            return pki.issue([name], not_before=not_before, not_after=not_after, key=key)

        self.certs: dict[str, IssuedCert] = {
            "mail.contoso.lab": leaf(self.pki, "mail.contoso.lab"),
            "autodiscover.contoso.lab": leaf(self.pki, "autodiscover.contoso.lab"),
            "wrongname.contoso.lab": leaf(self.pki, "other.contoso.lab"),
            "expired.contoso.lab": leaf(
                self.pki, "expired.contoso.lab", not_before=NOW - 400 * DAY, not_after=NOW - 30 * DAY
            ),
            "future.contoso.lab": leaf(
                self.pki, "future.contoso.lab", not_before=NOW + 30 * DAY, not_after=NOW + 400 * DAY
            ),
            "sha1.contoso.lab": leaf(sha1_pki, "sha1.contoso.lab"),
            "weak.contoso.lab": leaf(self.pki, "weak.contoso.lab", key_type=KeyType.RSA1024),
            "untrusted.contoso.lab": leaf(rogue_pki, "untrusted.contoso.lab"),
            "ec.contoso.lab": leaf(self.pki, "ec.contoso.lab", key_type=KeyType.EC256),
            "selfsigned.contoso.lab": self_signed(
                ["selfsigned.contoso.lab"], key=key, not_before=NOW - DAY, not_after=NOW + 90 * DAY
            ),
        }
        sites = {name: issued.ssl_context() for name, issued in self.certs.items()}
        self.server = HttpsServer(["127.0.0.1", "127.0.0.3"], sites, _ok)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    built = Lab()
    with built.server:
        yield built


def _fetch(lab: Lab, name: str, address: str = "127.0.0.1") -> TlsHandshake:
    handshake = fetch_chain(name, (address, lab.server.port), timeout=5)
    assert handshake.error is None, handshake.error
    return handshake


def _verdict(lab: Lab, name: str) -> ChainVerdict:
    return verify_chain(_fetch(lab, name).chain_pem, name, trust_roots=lab.trusted, at=NOW)


def test_fetch_chain_gets_the_right_leaf_for_each_name_on_one_listener(lab: Lab) -> None:
    port = lab.server.port
    for name in ("mail.contoso.lab", "autodiscover.contoso.lab"):
        handshakes_before = lab.server.stats[f"{name}:{port}"]
        handshake = _fetch(lab, name, "127.0.0.3")
        chain = [x509.load_pem_x509_certificate(pem.encode()) for pem in handshake.chain_pem]
        assert chain == list(lab.certs[name].chain)
        assert (handshake.server_name, handshake.address, handshake.port) == (name, "127.0.0.3", port)
        assert handshake.protocol == "TLSv1.3"
        assert lab.server.stats[f"{name}:{port}"] == handshakes_before + 1  # counted before fetch returns


def test_a_good_chain_verifies_with_the_lab_root(lab: Lab) -> None:
    verdict = _verdict(lab, "mail.contoso.lab")
    issued = lab.certs["mail.contoso.lab"]
    assert verdict.ok and verdict.problems == ()
    assert verdict.leaf_names == ("mail.contoso.lab",)
    assert verdict.leaf_subject == "CN=mail.contoso.lab,O=Contoso"
    assert verdict.issuer == "CN=Contoso Issuing CA,O=Contoso"
    assert verdict.thumbprint == issued.thumbprint
    assert verdict.not_after == issued.cert.not_valid_after_utc
    assert _verdict(lab, "ec.contoso.lab").ok


@pytest.mark.parametrize(
    ("site", "code"),
    [
        ("wrongname.contoso.lab", "name-mismatch"),
        ("expired.contoso.lab", "expired"),
        ("future.contoso.lab", "not-yet-valid"),
        ("sha1.contoso.lab", "weak-signature"),
        ("weak.contoso.lab", "weak-key"),
        ("untrusted.contoso.lab", "untrusted"),
        ("selfsigned.contoso.lab", "self-signed"),
    ],
)
def test_each_fault_gives_its_own_problem_and_only_that_one(lab: Lab, site: str, code: str) -> None:
    verdict = _verdict(lab, site)
    assert not verdict.ok
    assert verdict.codes == (code,), verdict.problems


def test_a_trusted_self_signed_certificate_is_accepted(lab: Lab) -> None:
    issued = lab.certs["selfsigned.contoso.lab"]
    chain = _fetch(lab, "selfsigned.contoso.lab").chain_pem
    assert verify_chain(chain, "selfsigned.contoso.lab", trust_roots=[issued.cert], at=NOW).ok


def test_a_missing_intermediate_is_untrusted_and_says_so(lab: Lab) -> None:
    leaf_only = _fetch(lab, "mail.contoso.lab").chain_pem[:1]
    verdict = verify_chain(leaf_only, "mail.contoso.lab", trust_roots=[lab.pki.root], at=NOW)
    assert verdict.codes == ("untrusted",)
    assert "missing intermediate" in verdict.problems[0].message


def test_an_empty_chain_is_untrusted(lab: Lab) -> None:
    assert verify_chain((), "mail.contoso.lab", trust_roots=[lab.pki.root], at=NOW).codes == ("untrusted",)


def test_the_sha1_chain_is_fetched_despite_openssl_defaults(lab: Lab) -> None:
    handshake = _fetch(lab, "sha1.contoso.lab")
    intermediate = x509.load_pem_x509_certificate(handshake.chain_pem[1].encode())
    assert intermediate.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA1


@pytest.mark.parametrize(
    ("patterns", "host", "matches"),
    [
        (["*.contoso.lab"], "mail.contoso.lab", True),
        (["*.contoso.lab"], "MAIL.Contoso.Lab.", True),
        (["*.contoso.lab"], "a.b.contoso.lab", False),
        (["*.contoso.lab"], "contoso.lab", False),
        (["*.lab"], "contoso.lab", False),
        (["m*.contoso.lab"], "mail.contoso.lab", False),
        (["mail.*.lab"], "mail.contoso.lab", False),
        (["mail.contoso.lab"], "owa.contoso.lab", False),
    ],
)
def test_dns_name_rules(lab: Lab, patterns: list[str], host: str, matches: bool) -> None:
    cert = lab.pki.issue(
        patterns, not_before=NOW, not_after=NOW + DAY, key=lab.certs["mail.contoso.lab"].key
    ).cert
    assert name_matches(cert, host) is matches


def test_ip_sans_and_common_name_only_without_san(lab: Lab) -> None:
    key = lab.certs["mail.contoso.lab"].key
    with_ip = lab.pki.issue(
        ["mail.contoso.lab"],
        ip_addresses=["127.0.0.9"],
        not_before=NOW,
        not_after=NOW + DAY,
        key=key,
        common_name="cn.contoso.lab",
    ).cert
    assert name_matches(with_ip, "127.0.0.9") and not name_matches(with_ip, "127.0.0.8")
    assert not name_matches(with_ip, "cn.contoso.lab")  # the CN does not count when there is a SAN
    assert leaf_names(with_ip) == ("mail.contoso.lab", "127.0.0.9")
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "legacy.contoso.lab")])
    no_san = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + DAY)
        .sign(key, hashes.SHA256())
    )
    assert name_matches(no_san, "legacy.contoso.lab") and leaf_names(no_san) == ("legacy.contoso.lab",)


def test_thumbprint_is_windows_style(lab: Lab) -> None:
    issued = lab.certs["mail.contoso.lab"]
    assert thumbprint(issued.cert) == issued.thumbprint
    assert len(issued.thumbprint) == 40 and issued.thumbprint == issued.thumbprint.upper()


def test_results_round_trip_through_json(lab: Lab) -> None:
    handshake = _fetch(lab, "expired.contoso.lab")
    assert TlsHandshake.from_dict(json.loads(json.dumps(handshake.to_dict()))) == handshake
    verdict = verify_chain(handshake.chain_pem, "x.contoso.lab", trust_roots=[lab.pki.root], at=NOW)
    assert set(verdict.codes) == {"expired", "name-mismatch"}
    assert ChainVerdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict


def test_refused_port_is_reported_not_raised() -> None:
    with socket.socket() as reserved:  # bound, never listening: connections are refused
        reserved.bind(("127.0.0.1", 0))
        handshake = fetch_chain("mail.contoso.lab", reserved.getsockname(), timeout=2)
    assert handshake.error == "connection refused" and handshake.chain_pem == ()


def test_a_silent_listener_times_out_the_handshake() -> None:
    with socket.socket() as silent:  # accepts (kernel backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        handshake = fetch_chain("mail.contoso.lab", silent.getsockname(), timeout=0.3)
    assert handshake.error == "timed out after 0.3 s (TLS handshake)"


def test_handshake_failures_are_reported(lab: Lab) -> None:
    unknown = fetch_chain("nobody.contoso.lab", ("127.0.0.1", lab.server.port), timeout=5)
    assert unknown.error is not None and unknown.error.startswith("TLS handshake failed: ")
    with HttpServer(["127.0.0.1"], _ok) as plain:
        not_tls = fetch_chain("mail.contoso.lab", ("127.0.0.1", plain.port), timeout=5)
    assert not_tls.error is not None and not_tls.error.startswith("TLS handshake failed: ")


def test_an_invalid_server_name_is_reported(lab: Lab) -> None:
    handshake = fetch_chain("mail..contoso.lab", ("127.0.0.1", lab.server.port), timeout=5)
    assert handshake.error == "invalid server name 'mail..contoso.lab'"


def test_an_oversized_chain_is_cut_off(lab: Lab) -> None:
    handshake = fetch_chain(
        "mail.contoso.lab", ("127.0.0.1", lab.server.port), timeout=5, max_chain_bytes=500
    )
    assert handshake.error == "certificate chain larger than 500 bytes" and handshake.chain_pem == ()


def test_trust_roots_from_a_bundle_or_the_system_store(lab: Lab, tmp_path: Path) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(lab.pki.root_pem())
    assert load_trust_roots(str(bundle)) == [lab.pki.root]
    assert len(load_trust_roots(None)) > 50
    with pytest.raises(TrustStoreError, match="cannot read"):
        load_trust_roots(str(tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(TrustStoreError, match="not a PEM bundle"):
        load_trust_roots(str(tmp_path / "junk.pem"))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client_gets_the_same_chain(lab: Lab) -> None:
    completed = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.3:{lab.server.port}",
            "-servername",
            "autodiscover.contoso.lab",
            "-showcerts",
        ],
        input=b"",
        capture_output=True,
        timeout=10,
        check=False,
    )
    certs = x509.load_pem_x509_certificates(completed.stdout)
    expected = lab.certs["autodiscover.contoso.lab"]
    assert [c.public_bytes(serialization.Encoding.DER) for c in certs] == [
        c.public_bytes(serialization.Encoding.DER) for c in expected.chain
    ]


def test_waiting_on_a_descriptor_past_1024_works() -> None:
    """A large run holds more than 1,024 descriptors: the handshake's wait must not use select()."""
    import os
    import resource
    import socket

    from cas_conformance.channels.tls import _ready

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the open-files hard limit ({hard}) is below 1,200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        left, right = socket.socketpair()
        try:
            assert left.fileno() > 1024
            right.sendall(b"x")
            assert _ready(left, write=False, timeout=5)
            assert _ready(left, write=True, timeout=5)
            left.recv(1)
            assert not _ready(left, write=False, timeout=0)
        finally:
            left.close()
            right.close()
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

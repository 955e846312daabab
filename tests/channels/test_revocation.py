"""Revocation channel against the lab OCSP responder and CRLs over real HTTP on loopback."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from cas_conformance.channels.revocation import RevocationResult, check_revocation
from cas_conformance.lab import (
    HttpHandler,
    HttpRequest,
    HttpResponse,
    HttpServer,
    IssuedCert,
    KeyType,
    Pki,
    PkiHandler,
    generate_key,
    pki_handler,
    self_signed,
)

NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)
KEY = generate_key(KeyType.RSA2048)


class Lab:
    """One plain HTTP server; the first path segment picks the PKI (or canned answer) that replies."""

    def __init__(self) -> None:
        self.routes: dict[str, HttpHandler] = {}
        self.server = HttpServer(["127.0.0.1"], self._route)
        self.server.start()
        self.base = f"http://127.0.0.1:{self.server.port}"
        self._closed = socket.socket()  # bound, never listening: a responder that refuses connections
        self._closed.bind(("127.0.0.1", 0))
        self.closed_base = f"http://127.0.0.1:{self._closed.getsockname()[1]}"
        self.handlers: list[PkiHandler] = []

    def _route(self, request: HttpRequest) -> HttpResponse:
        segment = request.path.split("/")[1]
        if segment not in self.routes:
            return HttpResponse(404)
        return self.routes[segment](request)

    def pki(
        self,
        name: str,
        *,
        ocsp_base: str | None = None,
        crl_base: str | None = None,
        delay: float | None = None,
    ) -> Pki:
        """A PKI served under /<name>/; its URLs may point elsewhere (a closed port, another route)."""
        pki = Pki.generate(
            name,
            ocsp_url=f"{ocsp_base or self.base}/{name}/ocsp",
            crl_base_url=f"{crl_base or self.base}/{name}/crl",
        )
        handler = pki_handler(pki, ocsp_delay=None if delay is None else (lambda: delay))
        self.handlers.append(handler)
        self.routes[name] = handler
        return pki

    def close(self) -> None:
        for handler in self.handlers:
            handler.close()
        self.server.stop()
        self._closed.close()


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    built = Lab()
    yield built
    built.close()


@pytest.fixture(scope="module")
def contoso(lab: Lab) -> Pki:
    return lab.pki("contoso")


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _leaf(pki: Pki, name: str, *, ocsp: bool = True, crl: bool = True) -> IssuedCert:
    return pki.issue(
        [name],
        not_before=NOW - DAY,
        not_after=NOW + 90 * DAY,
        key=KEY,
        include_ocsp_url=ocsp,
        include_crl_url=crl,
    )


def _pem(issued: IssuedCert) -> list[str]:
    return [c.public_bytes(serialization.Encoding.PEM).decode() for c in issued.chain]


def test_ocsp_good_then_revoked(lab: Lab, contoso: Pki, session: requests.Session) -> None:
    issued = _leaf(contoso, "mail.contoso.lab")
    good = check_revocation(_pem(issued), session, timeout=5)
    assert (good.method, good.status, good.url) == ("ocsp", "good", contoso.ocsp_url)
    assert f"{issued.serial:X}" in good.detail
    contoso.revoke(issued.serial)
    revoked = check_revocation(_pem(issued), session, timeout=5)
    assert (revoked.method, revoked.status) == ("ocsp", "revoked")


def test_unreachable_responder_without_crl(lab: Lab, session: requests.Session) -> None:
    pki = lab.pki("unreachable", ocsp_base=lab.closed_base)
    result = check_revocation(_pem(_leaf(pki, "a.contoso.lab", crl=False)), session, timeout=2)
    assert (result.method, result.status, result.url) == ("ocsp", "unreachable", pki.ocsp_url)
    assert "connection refused" in result.detail


def test_a_responder_slower_than_the_timeout_is_unreachable(lab: Lab, session: requests.Session) -> None:
    pki = lab.pki("slow", delay=30.0)  # released by handler.close() when the lab stops
    result = check_revocation(_pem(_leaf(pki, "b.contoso.lab", crl=False)), session, timeout=0.3)
    assert (result.method, result.status) == ("ocsp", "unreachable")
    assert "timed out after 0.3 s" in result.detail


def test_crl_decides_for_a_leaf_without_ocsp_url(lab: Lab, contoso: Pki, session: requests.Session) -> None:
    issued = _leaf(contoso, "crl.contoso.lab", ocsp=False)
    good = check_revocation(_pem(issued), session, timeout=5)
    assert (good.method, good.status, good.url) == ("crl", "good", contoso.crl_url("intermediate"))
    contoso.revoke(issued.serial)
    assert check_revocation(_pem(issued), session, timeout=5).status == "revoked"


def test_crl_is_the_fallback_when_the_responder_is_down(lab: Lab, session: requests.Session) -> None:
    pki = lab.pki("fallback", ocsp_base=lab.closed_base)
    result = check_revocation(_pem(_leaf(pki, "c.contoso.lab")), session, timeout=2)
    assert (result.method, result.status) == ("crl", "good")
    assert "OCSP failed" in result.detail and "connection refused" in result.detail


def test_both_down_reports_the_ocsp_failure_and_the_crl_one(lab: Lab, session: requests.Session) -> None:
    pki = lab.pki("alldown", ocsp_base=lab.closed_base, crl_base=lab.closed_base)
    result = check_revocation(_pem(_leaf(pki, "d.contoso.lab")), session, timeout=2)
    assert (result.method, result.status) == ("ocsp", "unreachable")
    assert "CRL fallback failed too" in result.detail


def test_no_revocation_information_at_all(session: requests.Session) -> None:
    issued = self_signed(["ex01.contoso.lab"], not_before=NOW - DAY, not_after=NOW + DAY, key=KEY)
    result = check_revocation(_pem(issued), session, timeout=2)
    assert (result.method, result.status, result.url) == ("none", "unknown", None)


def test_the_issuer_is_fetched_from_ca_issuers_when_the_server_sends_the_leaf_alone(
    lab: Lab, contoso: Pki, session: requests.Session
) -> None:
    result = check_revocation(_pem(_leaf(contoso, "leafonly.contoso.lab"))[:1], session, timeout=5)
    assert (result.method, result.status) == ("ocsp", "good")


def test_a_response_signed_by_another_ca_is_an_error(lab: Lab, session: requests.Session) -> None:
    lab.pki("impostor")
    victim = Pki.generate(
        "Victim", ocsp_url=f"{lab.base}/impostor/ocsp", crl_base_url=f"{lab.closed_base}/victim/crl"
    )
    result = check_revocation(_pem(_leaf(victim, "e.contoso.lab", crl=False)), session, timeout=2)
    assert (result.method, result.status) == ("ocsp", "error")
    assert "signed by neither the issuer" in result.detail


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (HttpResponse(200, [("Content-Type", "application/ocsp-response")], b"x" * 1_200_000), "larger than"),
        (HttpResponse(500, [], b"oops"), "HTTP 500"),
        (
            HttpResponse(200, [("Content-Type", "text/html")], b"<html>proxy login</html>"),
            "not answer with an OCSP",
        ),
    ],
)
def test_bad_responder_answers_are_errors(
    lab: Lab, session: requests.Session, answer: HttpResponse, expected: str
) -> None:
    lab.routes["canned"] = lambda _request: answer
    pki = Pki.generate("Canned", ocsp_url=f"{lab.base}/canned/ocsp", crl_base_url=f"{lab.base}/canned/crl")
    result = check_revocation(_pem(_leaf(pki, "f.contoso.lab", crl=False)), session, timeout=5)
    assert (result.method, result.status) == ("ocsp", "error")
    assert expected in result.detail


def test_result_round_trips_through_json() -> None:
    result = RevocationResult("crl", "revoked", "http://pki.contoso.lab/crl/intermediate.crl", "listed")
    assert RevocationResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    with pytest.raises(ValueError, match="not a revocation result"):
        RevocationResult.from_dict({**result.to_dict(), "status": "fine"})

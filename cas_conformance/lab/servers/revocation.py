"""OCSP responder and CRL/CA-certificate distribution for the lab PKI, as an ``HttpHandler``.

Run it behind :class:`~cas_conformance.lab.servers.http.HttpServer` (plain HTTP, as real OCSP and
CRL endpoints are). The paths are taken from the PKI's own URLs, so with
``ocsp_url="http://pki.contoso.lab/ocsp"`` and ``crl_base_url="http://pki.contoso.lab/crl"`` it
serves ``POST /ocsp``, ``GET /ocsp/<base64 request>``, ``GET /crl/root.crl``,
``GET /crl/intermediate.crl`` and the caIssuers certificates ``GET /crl/root.crt`` and
``GET /crl/intermediate.crt``.

Faults: "responder unreachable" is the integrator's (do not start the server, or point the URL at a
closed port); "responder too slow" is the ``ocsp_delay`` hook, seconds to wait before answering.
The wait is cut short by :meth:`PkiHandler.close`, so stopping a lab never waits for a slow answer.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives.serialization import Encoding

from cas_conformance.lab.pki import CaName, Pki
from cas_conformance.lab.servers.http import HttpRequest, HttpResponse

OCSP_RESPONSE_TYPE = "application/ocsp-response"


def _path(url: str) -> str:
    return urlsplit(url).path.rstrip("/") or "/"


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "text/plain; charset=utf-8")], message.encode() + b"\n")


class PkiHandler:
    """Callable ``HttpRequest -> HttpResponse`` answering OCSP and serving CRLs for one :class:`Pki`."""

    def __init__(self, pki: Pki, *, ocsp_delay: Callable[[], float] | None = None) -> None:
        self.pki = pki
        self._ocsp_delay = ocsp_delay
        self._closed = threading.Event()
        self._ocsp_path = _path(pki.ocsp_url)
        cas: tuple[CaName, ...] = ("root", "intermediate")
        self._crls = {_path(pki.crl_url(ca)): ca for ca in cas}
        self._certs = {_path(pki.ca_issuers_url(ca)): ca for ca in cas}
        self._count_lock = threading.Lock()
        #: OCSP requests answered, so tests can prove each certificate was asked about once.
        self.ocsp_requests = 0

    def close(self) -> None:
        """Release every request waiting in the ``ocsp_delay`` and answer later ones at once."""
        self._closed.set()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path.split("?", 1)[0]
        if path == self._ocsp_path or path.startswith(self._ocsp_path.rstrip("/") + "/"):
            return self._ocsp(request, path)
        if request.method not in ("GET", "HEAD"):
            return _text(405, f"{request.method} is not allowed on {path}")
        if path in self._crls:
            return HttpResponse(
                200, [("Content-Type", "application/pkix-crl")], self.pki.crl(self._crls[path])
            )
        if path in self._certs:
            der = self.pki.ca_cert(self._certs[path]).public_bytes(Encoding.DER)
            return HttpResponse(200, [("Content-Type", "application/pkix-cert")], der)
        return _text(404, f"{path} is not published by the {self.pki.organisation} lab PKI")

    def _ocsp(self, request: HttpRequest, path: str) -> HttpResponse:
        if request.method == "POST" and path == self._ocsp_path:
            der = request.body
        elif request.method == "GET" and path != self._ocsp_path:
            encoded = unquote(path[len(self._ocsp_path.rstrip("/")) + 1 :])
            try:
                der = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                der = b""  # answered with the malformedRequest status, as a responder does
        else:
            return _text(405, "OCSP takes POST <responder> or GET <responder>/<base64 request>")
        with self._count_lock:
            self.ocsp_requests += 1
        if self._ocsp_delay is not None and not self._closed.is_set():
            self._closed.wait(self._ocsp_delay())
        return HttpResponse(200, [("Content-Type", OCSP_RESPONSE_TYPE)], self.pki.ocsp_response(der))


def pki_handler(pki: Pki, *, ocsp_delay: Callable[[], float] | None = None) -> PkiHandler:
    """An ``HttpHandler`` for *pki*'s OCSP and CRL URLs; call ``.close()`` on it when the lab stops."""
    return PkiHandler(pki, ocsp_delay=ocsp_delay)

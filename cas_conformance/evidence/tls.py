"""TLS evidence: each declared name's chain on port 443, handshaken once (taken from the probes'
first HTTPS connection to it where there was one), and the trust roots the run judges chains by."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.tls import fetch_chain, load_trust_roots
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.errors import CollectionError
from cas_conformance.evidence.kind import Fetching, Kind, Loading
from cas_conformance.evidence.model import Needs, TlsEvidence, frozen_map


def _handshake(name: str, dialer: Dialer, timeout: float) -> TlsHandshake:
    try:
        target = dialer.target(name, 443)
    except CollectionError as exc:
        return TlsHandshake(name, "", 443, (), None, f"not resolved: {exc.reason}")
    return fetch_chain(name, target, timeout=timeout)


def fetch(ctx: Fetching, needs: Needs) -> TlsEvidence:
    names = sorted(needs.handshake)

    def handshake(name: str) -> TlsHandshake:
        return ctx.captured.get(name) or _handshake(name, ctx.dialer, ctx.run.http_timeout)

    handshakes = frozen_map(zip(names, ctx.pool.map(handshake, names), strict=True))
    ctx.progress(
        "tls-done", "", f"{len(handshakes)} names ({len(ctx.captured)} from the probes' connections)"
    )
    return TlsEvidence(handshakes, tuple(load_trust_roots(ctx.run.tls_ca_bundle)))


def save(part: TlsEvidence) -> dict[str, Any]:
    return {
        "handshakes": {k: v.to_dict() for k, v in part.handshakes.items()},
        "trust_roots": [c.public_bytes(Encoding.PEM).decode() for c in part.trust_roots],
    }


def load(data: Any, loading: Loading) -> TlsEvidence:
    return TlsEvidence(
        frozen_map((k, TlsHandshake.from_dict(v)) for k, v in data["handshakes"].items()),
        tuple(x509.load_pem_x509_certificate(p.encode()) for p in data["trust_roots"]),
    )


KIND = Kind("tls", save, load, fetch)

"""Revocation evidence: the certificate's, not the name's. One question per distinct chain the TLS
evidence holds (an organisation's names often share one SAN certificate), its answer given to
every name that served the chain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cas_conformance.channels.revocation import RevocationResult, check_revocation
from cas_conformance.evidence.kind import Fetching, Kind, Loading
from cas_conformance.evidence.model import Needs, TlsEvidence, frozen_map


def fetch(ctx: Fetching, needs: Needs) -> Mapping[str, RevocationResult]:
    tls: TlsEvidence = ctx.parts["tls"]
    chains = {n: tuple(h.chain_pem) for n, h in tls.handshakes.items() if h.chain_pem}
    distinct = list(dict.fromkeys(chains.values()))
    timeout = ctx.run.http_timeout
    answers = dict(
        zip(
            distinct,
            ctx.pool.map(lambda c: check_revocation(c, ctx.session, timeout=timeout), distinct),
            strict=True,
        )
    )
    return frozen_map((n, answers[c]) for n, c in chains.items())


def save(part: Mapping[str, RevocationResult]) -> dict[str, Any]:
    return {k: v.to_dict() for k, v in part.items()}


def load(data: Any, loading: Loading) -> Mapping[str, RevocationResult]:
    return frozen_map((k, RevocationResult.from_dict(v)) for k, v in data.items())


KIND = Kind("revocation", save, load, fetch)

"""Every kind of evidence, in the order it is fetched and loaded (a kind may read the parts of
those before it). A new kind is one module offering a ``KIND`` and one line here."""

from __future__ import annotations

from typing import Any

from cas_conformance.evidence import dns, exchange, http, os, revocation, smtp, tls
from cas_conformance.evidence.kind import Kind

KINDS: tuple[Kind[Any], ...] = (
    exchange.KIND,
    os.KIND,
    dns.KIND,
    http.KIND,
    tls.KIND,  # after http: each name's chain comes from the probes' first connection
    revocation.KIND,  # after tls: one question per chain
    smtp.KIND,
)

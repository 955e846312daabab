"""A certificate authority for the check unit tests that read TLS records (no socket is opened:
the chains are put on hand-built EvidenceView records)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from cas_conformance.lab import Pki
from tests.checks.world_builder import NOW


@pytest.fixture(scope="session")
def pki() -> Iterator[Pki]:
    yield Pki.generate(
        "Contoso",
        ocsp_url="http://pki.contoso.lab/ocsp",
        crl_base_url="http://pki.contoso.lab/crl",
        now=NOW - timedelta(days=30),
    )

"""A real PEM bundle of CA certificates for inventories that name one (the settings load it)."""

from __future__ import annotations

from pathlib import Path

import certifi

PEM_BUNDLE = Path(certifi.where()).read_text(encoding="ascii")


def der_certificate() -> bytes:
    """One CA certificate in DER form, as Windows exports a ``.cer`` by default."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    first = PEM_BUNDLE[: PEM_BUNDLE.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return x509.load_pem_x509_certificate(first[first.index("-----BEGIN") :].encode()).public_bytes(
        Encoding.DER
    )

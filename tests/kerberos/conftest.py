"""A real MIT KDC (Debian's krb5-kdc) and a lab reached over Kerberos, one of each per test session.

`make test` installs MIT Kerberos and the ``kerberos`` extra where they are missing. When they are
still missing the Kerberos tests fail in CI (CI=true), where a skipped test would hide an untested
transport, and skip elsewhere with what to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cas_conformance.lab.kdc import INSTALL_HINT, KdcUnavailable, kdc_programs
from cas_conformance.lab.runtime import Lab
from cas_conformance.lab.scenario import load_scenario
from tests.lab.conftest import HEALTHY


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"Kerberos tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kerberos_ready() -> None:
    try:
        kdc_programs()
    except KdcUnavailable as exc:
        _unavailable(str(exc))
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError as exc:
        _unavailable(f"python-gssapi or krb5 missing ({exc}): {INSTALL_HINT}")


@pytest.fixture(scope="session")
def kerberos_lab(kerberos_ready: None) -> Iterator[Lab]:
    """The healthy scenario with its KDC: realm CONTOSO.LAB, HTTP/ and WSMAN/ for every server."""
    lab = Lab(load_scenario(HEALTHY), kerberos=True).start()
    try:
        yield lab
    finally:
        lab.stop()

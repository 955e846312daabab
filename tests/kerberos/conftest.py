"""A real MIT KDC (Debian's krb5-kdc) and a lab reached over Kerberos, one of each per test session:
the lab's own fixtures (tests/lab/conftest.py), which fail in CI and skip elsewhere, saying what to
install, when MIT Kerberos or the ``kerberos`` extra is missing.
"""

from __future__ import annotations

from tests.lab.conftest import kerberos_lab, kerberos_ready

__all__ = ["kerberos_lab", "kerberos_ready"]  # the fixtures of the tests here

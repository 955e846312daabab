"""Section "Applies to": the reference covers Exchange 2010 SP2 and SP3.
Its requirement is declared with its check in ``cas_conformance/checks/version.py``."""

import pytest

from cas_conformance import Finding, assert_conforms


@pytest.mark.requirement("VER-01")
def test_exchange_2010_sp2_or_sp3(finding: Finding) -> None:
    """Every Exchange 2010 server runs SP2 or SP3 (AdminDisplayVersion 14.2 or 14.3)."""
    assert_conforms(finding)

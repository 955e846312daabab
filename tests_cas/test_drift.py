"""Drift: the Client Access servers of one peer group (CAS array, AD site, or ``peer_group``) agree.
The requirements are declared with their checks in ``cas_conformance/checks/drift.py``."""

import pytest

from cas_conformance import Finding, assert_conforms


@pytest.mark.requirement("DRIFT-01")
def test_same_urls_and_outlook_anywhere(finding: Finding) -> None:
    """Every member serves the same InternalUrl/ExternalUrl hosts and Outlook Anywhere settings."""
    assert_conforms(finding)


@pytest.mark.requirement("DRIFT-02")
def test_same_rpc_encryption(finding: Finding) -> None:
    """Every member has the same Get-RpcClientAccess EncryptionRequired."""
    assert_conforms(finding)


@pytest.mark.requirement("DRIFT-03")
def test_same_certificate_names(finding: Finding) -> None:
    """Every member's IIS certificate covers the same names (thumbprints may differ)."""
    assert_conforms(finding)


@pytest.mark.requirement("DRIFT-04")
def test_same_winhttp_proxy(finding: Finding) -> None:
    """Every member has the same WinHTTP proxy and bypass list."""
    assert_conforms(finding)


@pytest.mark.requirement("DRIFT-05")
def test_same_exchange_build(finding: Finding) -> None:
    """Every member runs the same Exchange build."""
    assert_conforms(finding)

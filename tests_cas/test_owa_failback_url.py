"""Section "DNS Change Prevents User from Signing In to Outlook Web App".
The requirements are declared with their checks in ``cas_conformance/checks/owa.py``."""

import pytest

from cas_conformance import Finding, assert_conforms


@pytest.mark.requirement("OWA-01")
def test_failback_url_set(finding: Finding) -> None:
    """Each OWA virtual directory with an ExternalUrl has a FailbackUrl."""
    assert_conforms(finding)


@pytest.mark.requirement("OWA-02")
def test_failback_host_differs_from_external(finding: Finding) -> None:
    """The FailbackUrl host differs from the ExternalUrl host."""
    assert_conforms(finding)


@pytest.mark.requirement("OWA-03")
def test_failback_host_resolves_to_its_cas(finding: Finding) -> None:
    """The FailbackUrl host resolves to the Client Access server hosting the virtual directory, or
    to an address declared in failback_addresses (a load balancer's virtual IP)."""
    assert_conforms(finding)


@pytest.mark.requirement("OWA-04")
def test_failback_host_serves_valid_certificate(finding: Finding) -> None:
    """https://<failback host>/owa answers with a certificate valid for that name."""
    assert_conforms(finding)

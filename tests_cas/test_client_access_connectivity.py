"""Section "Test Client Access Server Connectivity": the Remote Connectivity Analyzer steps, from the
runner. Declared with their checks in ``cas_conformance/checks/connectivity.py`` and ``mail_domains.py``."""

import pytest

from cas_conformance import Finding, assert_conforms


@pytest.mark.requirement("CONN-01")
def test_name_resolves(finding: Finding) -> None:
    """Each published host name resolves through the inventory's resolvers."""
    assert_conforms(finding)


@pytest.mark.requirement("CONN-02")
def test_tcp_443_accepts(finding: Finding) -> None:
    """TCP 443 accepts connections for each published host name."""
    assert_conforms(finding)


@pytest.mark.requirement("CONN-03")
def test_tls_chain_valid(finding: Finding) -> None:
    """The TLS chain is trusted, in date, names the host, with strong keys and signatures."""
    assert_conforms(finding)


@pytest.mark.requirement("CONN-04")
def test_revocation_good(finding: Finding) -> None:
    """OCSP answers good (or the CRL is reachable and does not list the certificate)."""
    assert_conforms(finding)


@pytest.mark.requirement("CONN-05")
def test_endpoint_answers(finding: Finding) -> None:
    """Each Exchange endpoint answers as Exchange does (sign-in page or 401 with its methods)."""
    assert_conforms(finding)


@pytest.mark.requirement("CONN-06")
def test_autodiscover_authenticated(finding: Finding) -> None:
    """Authenticated Autodiscover returns the organisation's server names."""
    assert_conforms(finding)


@pytest.mark.requirement("CONN-07")
def test_smtp_starttls(finding: Finding) -> None:
    """The MX resolves and port 25 greets with 220 and offers STARTTLS."""
    assert_conforms(finding)

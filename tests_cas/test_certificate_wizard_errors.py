"""Section "Troubleshoot Certificate Wizard errors": WinHTTP proxy and certificate status.
Requirements declared with their checks in ``cas_conformance/checks/proxy.py`` and ``certificates.py``."""

import pytest

from cas_conformance import Finding, assert_conforms


@pytest.mark.requirement("PROXY-01")
def test_winhttp_proxy_as_declared(finding: Finding) -> None:
    """The WinHTTP proxy in effect (WinHttpSettings, its flags honoured) is the declared one, or
    direct access when none is declared."""
    assert_conforms(finding)


@pytest.mark.requirement("PROXY-02")
def test_winhttp_bypass_list_covers_exchange_servers(finding: Finding) -> None:
    """The WinHTTP bypass list covers the FQDN of every Exchange server, under WinHTTP's matching."""
    assert_conforms(finding)


@pytest.mark.requirement("CERT-01")
def test_certificate_status_valid(finding: Finding) -> None:
    """Every certificate assigned to a service has Status Valid."""
    assert_conforms(finding)


@pytest.mark.requirement("CERT-02")
def test_iis_certificate_covers_host_names(finding: Finding) -> None:
    """The IIS certificate covers every virtual directory and Outlook Anywhere host name."""
    assert_conforms(finding)


@pytest.mark.requirement("CERT-03")
def test_certificate_not_expiring_soon(finding: Finding) -> None:
    """No certificate assigned to a service expires within cert_expiry_warning_days."""
    assert_conforms(finding)

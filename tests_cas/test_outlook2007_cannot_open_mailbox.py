"""Section "Cannot Open Mailbox in Outlook 2007".
The requirements are declared with their checks in ``cas_conformance/checks/outlook.py``."""

import pytest

from cas_conformance import Finding, assert_conforms


@pytest.mark.requirement("OUT-01")
def test_rpc_client_access_server_is_client_access(finding: Finding) -> None:
    """Each mailbox database's RpcClientAccessServer is a Client Access server or array."""
    assert_conforms(finding)


@pytest.mark.requirement("OUT-02")
def test_rpc_client_access_server_resolves(finding: Finding) -> None:
    """Each RpcClientAccessServer value resolves through the inventory's resolvers."""
    assert_conforms(finding)


@pytest.mark.requirement("OUT-03")
def test_rpc_client_access_server_in_database_site(finding: Finding) -> None:
    """The array or CAS named is in the AD site of the database's server."""
    assert_conforms(finding)

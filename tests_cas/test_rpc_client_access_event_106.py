"""Section "Event ID 106": the RPC Client Access service on a server without the Client Access role."""

import pytest

from cas_conformance.checks import Finding
from cas_conformance.plugin import assert_conforms


@pytest.mark.requirement("RPC-01")
def test_rpc_service_not_running_without_client_access(finding: Finding) -> None:
    """MSExchangeRPC neither runs nor starts automatically on a server without Client Access."""
    assert_conforms(finding)


@pytest.mark.requirement("RPC-02")
def test_no_event_106(finding: Finding) -> None:
    """No Event ID 106 about RpcClientAccess performance counters in the lookback window."""
    assert_conforms(finding)

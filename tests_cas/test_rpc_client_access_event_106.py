"""Section "Event ID 106": the RPC Client Access service on a server without the Client Access role.
The requirements are declared with their checks in ``cas_conformance/checks/rpc.py``."""

import pytest

from cas_conformance import Finding, assert_conforms


@pytest.mark.requirement("RPC-01")
def test_rpc_counters_exist_where_the_service_runs(finding: Finding) -> None:
    """Where MSExchangeRPC runs on a server without Client Access, its performance counters exist."""
    assert_conforms(finding)


@pytest.mark.requirement("RPC-02")
def test_no_event_106(finding: Finding) -> None:
    """No Event ID 106 whose category name is MSExchange RpcClientAccess in the lookback window."""
    assert_conforms(finding)

"""Sections "Cannot Open Mailbox in Outlook 2003 and Exchange 2010 RTM" and "E-Mail Messages Take a
Long Time to Load". Declared with their checks in ``cas_conformance/checks/outlook.py``."""

import pytest

from cas_conformance import Finding, assert_conforms


@pytest.mark.requirement("OUT2003-01")
def test_rpc_encryption_not_required(finding: Finding) -> None:
    """RPC Client Access does not require encryption while Outlook 2003 clients do not encrypt."""
    assert_conforms(finding)


@pytest.mark.requirement("OUT2003-02")
def test_online_outlook2003_gets_notifications(finding: Finding) -> None:
    """Online-mode Outlook 2003 clients get UDP push notifications from each CAS, or the CAS polling
    interval is below the 60000 ms default."""
    assert_conforms(finding)

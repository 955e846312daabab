"""VER-01 on hand-built facts: SP2/SP3 pass, an older service pack fails with the upgrade steps,
Exchange 2013+ does not apply, and a server without facts is an error, never a pass."""

from __future__ import annotations

import pytest

from cas_conformance.checks import FactsUnavailable, NotApplicable
from cas_conformance.domain.facts import SectionError
from tests.checks.world_builder import Cas, judge, world


@pytest.mark.parametrize("version", ["Version 14.2 (Build 247.5)", "Version 14.3 (Build 123.4)"])
def test_sp2_and_sp3_pass(version: str) -> None:
    finding = judge(world(Cas("CAS01", version=version)), "VER-01", "cas01")
    assert finding.passed, finding.message()
    assert finding.object == "CAS01"


def test_sp1_fails_naming_the_server_and_the_upgrade() -> None:
    finding = judge(world(Cas("CAS01", version="Version 14.1 (Build 218.15)")), "VER-01", "cas01")
    assert not finding.passed
    assert finding.object == "CAS01" and finding.server == "cas01.contoso.lab"
    assert "CAS01 runs" in finding.why
    assert "on CAS01 itself" in finding.remediation
    assert ".\\Setup.com /mode:upgrade" in finding.remediation
    assert finding.remediation.endswith("Get-ExchangeServer CAS01 | fl Name,AdminDisplayVersion")


def test_unreadable_version_fails_with_a_command_to_read_it() -> None:
    finding = judge(world(Cas("CAS01", version="14.3.123.4")), "VER-01", "cas01")
    assert not finding.passed and finding.observed == "14.3.123.4"
    assert "Get-ExchangeServer CAS01 | fl Name,AdminDisplayVersion" in finding.remediation


def test_exchange_2013_does_not_apply() -> None:
    with pytest.raises(NotApplicable, match=r"CAS01 runs .*migration in progress"):
        judge(world(Cas("CAS01", version="Version 15.0 (Build 1497.2)")), "VER-01", "cas01")


def test_a_server_without_facts_is_an_error() -> None:
    with pytest.raises(FactsUnavailable, match="connection refused"):
        judge(world(Cas("CAS01", collected=False)), "VER-01", "cas01")


def test_an_errored_server_section_is_an_error() -> None:
    w = world(Cas("CAS01", errors=(SectionError("server", "Get-ExchangeServer: access denied"),)))
    with pytest.raises(FactsUnavailable, match="access denied"):
        judge(w, "VER-01", "cas01")

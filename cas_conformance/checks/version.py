"""The section "Applies to": Exchange 2010 SP2 or SP3."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import Finding, NotApplicable, check, one_line, ps_word
from cas_conformance.domain.catalogue import SECTION_VER, Requirement, Severity
from cas_conformance.evidence.view import EvidenceView


@check(
    Requirement("VER-01", "Exchange 2010 runs SP2 or SP3", Severity.CRITICAL, SECTION_VER, only_2010=False),
    subjects.servers,
)
def exchange_2010_sp2_or_sp3(world: EvidenceView, key: str) -> Finding:
    record = subjects.record(world, key)
    local = subjects.local_server(record)
    version = local.version
    observed = local.admin_display_version or "(empty)"
    if version is None:
        return Finding(
            key,
            local.name,
            False,
            observed,
            "Version 14.2 or 14.3 (Exchange 2010 SP2/SP3)",
            why="AdminDisplayVersion is not in the form 'Version 14.3 (Build 123.4)'",
            remediation=f"# read the version by hand on {one_line(local.name)}:\n"
            f"Get-ExchangeServer {ps_word(local.name)} | fl Name,AdminDisplayVersion",
        )
    if version.major >= 15:
        raise NotApplicable(
            f"{local.name} runs {version.text} ({version.product}): an Exchange 2013 or later server beside "
            "Exchange 2010 (migration in progress); the Exchange 2010 checks are skipped for it"
        )
    passed = version.major == 14 and version.minor in (2, 3)
    return Finding(
        key,
        local.name,
        passed,
        str(version),
        "Exchange 2010 SP2 or SP3 (Version 14.2 or 14.3)",
        why=""
        if passed
        else f"{local.name} runs {version.product} {version.service_pack}; this troubleshooting "
        "reference applies to SP2 and SP3",
        remediation=_upgrade(local.name),
    )


def _upgrade(server: str) -> str:
    """A service pack is installed by hand, on the server itself (no Exchange cmdlet does it):
    Setup.com /mode:upgrade from the extracted SP3 files, then the latest update rollup."""
    name = one_line(server)
    return (
        f"# by hand, on {name} itself, as a local administrator (plan a maintenance window: services restart):\n"
        "# 1. download Exchange Server 2010 SP3 from Microsoft and extract it to a folder, e.g. C:\\ExchangeSP3\n"
        "# 2. from that folder, in an elevated prompt:\n"
        "Set-Location C:\\ExchangeSP3\n"
        ".\\Setup.com /mode:upgrade\n"
        "# 3. install the latest update rollup for Exchange 2010 SP3 (its .msp, elevated), then check:\n"
        f"Get-ExchangeServer {ps_word(server)} | fl Name,AdminDisplayVersion"
    )

"""VER-01: the section "Applies to": Exchange 2010 SP2 or SP3."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import Finding, NotApplicable, check
from cas_conformance.world import World


@check("VER-01", subjects.servers)
def exchange_2010_sp2_or_sp3(world: World, key: str) -> Finding:
    record = subjects.record(world, key)
    local = subjects.local_server(record)
    version = local.version
    observed = local.admin_display_version or "(empty)"
    if version is None:
        return Finding(
            "VER-01",
            key,
            local.name,
            False,
            observed,
            "Version 14.2 or 14.3 (Exchange 2010 SP2/SP3)",
            why="AdminDisplayVersion is not in the form 'Version 14.3 (Build 123.4)'",
        )
    if version.major >= 15:
        raise NotApplicable(
            f"{local.name} runs {version.text} ({version.product}): an Exchange 2013 or later server beside "
            "Exchange 2010 (migration in progress); the Exchange 2010 checks are skipped for it"
        )
    passed = version.major == 14 and version.minor in (2, 3)
    return Finding(
        "VER-01",
        key,
        local.name,
        passed,
        str(version),
        "Exchange 2010 SP2 or SP3 (Version 14.2 or 14.3)",
        why=""
        if passed
        else f"{local.name} runs {version.product} {version.service_pack}; this troubleshooting "
        "reference applies to SP2 and SP3",
        remediation=f"Install Exchange Server 2010 SP3 and its latest update rollup on {local.name} "
        "(run Setup.com /mode:upgrade from the SP3 media).",
    )

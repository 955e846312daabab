"""Checks: pure functions from gathered facts to findings, one module per reference section.

Each check declares the requirement it implements (id, title, severity, section) where it is
registered; importing this package registers every check and assembles the catalogue from them:
``CHECKS`` and ``REQUIREMENTS`` in the catalogue's order, which markers, reports, waivers and the
docs index follow, and ``requirement(id)``.
"""

from cas_conformance.checks import (
    certificates,
    connectivity,
    drift,
    mail_domains,
    outlook,
    owa,
    proxy,
    rpc,
    version,
)
from cas_conformance.checks.base import (
    REGISTERED,
    Case,
    CheckSpec,
    FactsUnavailable,
    Finding,
    NotApplicable,
    requirement,
)
from cas_conformance.domain.catalogue import Requirement

#: The check modules in the catalogue's order: the reference's sections as it has them, the drift
#: comparisons (not a section of it) last; a module's requirements keep the order it declares them in.
_IN_ORDER = (version, outlook, rpc, owa, proxy, certificates, connectivity, mail_domains, drift)


def _catalogue() -> dict[str, CheckSpec]:
    rank = {module.__name__: i for i, module in enumerate(_IN_ORDER)}
    unplaced = sorted({spec.module for spec in REGISTERED.values()} - set(rank))
    if unplaced:
        raise ImportError(f"check modules without a place in the catalogue's order (_IN_ORDER): {unplaced}")
    specs = sorted(REGISTERED.values(), key=lambda spec: rank[spec.module])
    return {spec.requirement.id: spec for spec in specs}


CHECKS: dict[str, CheckSpec] = _catalogue()
REQUIREMENTS: tuple[Requirement, ...] = tuple(spec.requirement for spec in CHECKS.values())

__all__ = [
    "CHECKS",
    "REQUIREMENTS",
    "Case",
    "CheckSpec",
    "FactsUnavailable",
    "Finding",
    "NotApplicable",
    "requirement",
]

"""Drift: the Client Access servers behind one name agree with each other.

A CAS array or load-balanced namespace is only as good as its least careful member: a member with
another URL, certificate, proxy or build makes clients fail only when it answers. Each test compares
one property across one peer group (``peer_groups``): it fails naming the odd members, the value
most members have and the command that sets the odd ones to it; where no value has a majority it
lists every value with its members and fixes nothing automatically.
"""

from __future__ import annotations

from dataclasses import dataclass

from cas_conformance.checks.base import Enumerator, FactsUnavailable, Finding, check, one_line
from cas_conformance.checks.drift_properties import (
    BY_NAME,
    CERTIFICATE_NAMES,
    EXCHANGE_BUILD,
    RPC_ENCRYPTION,
    URLS_AND_OUTLOOK_ANYWHERE,
    WINHTTP_PROXY,
    Fix,
    Property,
    iis_certificates,
)
from cas_conformance.checks.peer_groups import (
    DRIFT_PROPERTY,
    Comparison,
    PeerGroup,
    Seen,
    compare,
    drift_row,
    find_group,
    group_cases,
    member_records,
    single_member,
)
from cas_conformance.domain.catalogue import SECTION_DRIFT, Requirement, Severity, Subject
from cas_conformance.evidence.view import EvidenceView


@dataclass(frozen=True)
class Drift:
    """A drift requirement: the properties it compares across each peer group, and why a
    difference matters."""

    requirement: Requirement
    properties: tuple[Property, ...]
    why: str

    def cases(self) -> Enumerator:
        """One case per peer group and property (its own properties, in their order)."""
        names = [p.name for p in self.properties]
        return Enumerator(Subject.PEER_GROUP, lambda world: group_cases(world, names))


DRIFTS = (
    Drift(
        Requirement(
            "DRIFT-01",
            "Peer group members publish the same URLs and Outlook Anywhere settings",
            Severity.CRITICAL,
            SECTION_DRIFT,
        ),
        URLS_AND_OUTLOOK_ANYWHERE,
        "clients reach whichever member the load balancer or DNS picks: a member with other URLs or "
        "Outlook Anywhere settings sends them elsewhere or prompts them, only when it answers",
    ),
    Drift(
        Requirement(
            "DRIFT-02", "Peer group members agree on RPC encryption", Severity.CRITICAL, SECTION_DRIFT
        ),
        RPC_ENCRYPTION,
        "Outlook clients that do not encrypt RPC connect through some members and are refused by others",
    ),
    Drift(
        Requirement(
            "DRIFT-03",
            "Peer group members' IIS certificates cover the same names",
            Severity.WARNING,
            SECTION_DRIFT,
        ),
        CERTIFICATE_NAMES,
        "clients get a certificate name warning only from the members whose certificate lacks a name",
    ),
    Drift(
        Requirement(
            "DRIFT-04",
            "Peer group members have the same WinHTTP proxy and bypass list",
            Severity.CRITICAL,
            SECTION_DRIFT,
        ),
        WINHTTP_PROXY,
        "revocation checks and Exchange's own web calls work on some members and time out on others",
    ),
    Drift(
        Requirement(
            "DRIFT-05", "Peer group members run the same Exchange build", Severity.WARNING, SECTION_DRIFT
        ),
        EXCHANGE_BUILD,
        "members of one namespace behave differently (fixes, defaults, OWA versions) depending on "
        "which one answers",
    ),
)


def _listing(comparison: Comparison) -> str:
    return "; ".join(f"{text} on {', '.join(members)}" for text, members in comparison.by_value())


def _remediation(prop: Property, group: PeerGroup, comparison: Comparison, seen: dict[str, Seen]) -> str:
    if comparison.majority is None:
        lines = [f"# no value of the {prop.label} has a majority in {one_line(group.describe())}:"]
        lines += [
            f"#   {one_line(text)}: {one_line(', '.join(members))}" for text, members in comparison.by_value()
        ]
        lines.append(f"# decide which is right, then set it on the others ({prop.hint})")
        return "\n".join(lines)
    reference = seen[comparison.holders(comparison.majority)[0]]
    return "\n".join(prop.fix(Fix(seen[m], comparison.majority, reference)) for m in comparison.odd)


def _thumbprints(prop: Property, seen: dict[str, Seen]) -> dict[str, str]:
    """Each member's IIS certificate thumbprints, where the certificate names' comparison finds more
    than one certificate."""
    if prop.name != "certificate-names":
        return {}
    thumbprints = {m: ", ".join(c.thumbprint for c in iis_certificates(s)) for m, s in seen.items()}
    return thumbprints if len(set(thumbprints.values())) > 1 else {}


def _uncommon_names(prop: Property, comparison: Comparison) -> str:
    """For the certificate names' comparison: the names not every member has, with the members that
    have them."""
    if prop.name != "certificate-names" or comparison.agree:
        return ""
    sets = {m: set(v.key.split(",")) for m, v in comparison.values.items()}
    common = set.intersection(*sets.values())
    uncommon = sorted(set.union(*sets.values()) - common)
    return "names not on every member: " + "; ".join(
        f"{n} ({', '.join(m for m, names in sets.items() if n in names)})" for n in uncommon
    )


def _notes(group: PeerGroup, thumbprints: dict[str, str], uncommon: str) -> list[str]:
    notes = [uncommon] if uncommon else []
    if group.unplaced:
        notes.append(
            f"{', '.join(group.unplaced)}: member(s) of the array the inventory does not list, so not compared"
        )
    if thumbprints:
        notes.append(
            "IIS certificates by thumbprint: "
            + "; ".join(f"{m} {t or '(none)'}" for m, t in thumbprints.items())
        )
    return notes


def judge(world: EvidenceView, key: str, drift: Drift) -> Finding:
    requirement = drift.requirement.id
    group, name = find_group(world, key)
    prop = BY_NAME.get(name)
    if prop is None or prop not in drift.properties:
        raise FactsUnavailable(f"{requirement} compares no property {name!r}")
    if len(group.members) < 2:
        raise single_member(group, requirement, prop.name, prop.label)
    seen = member_records(world, group)
    comparison = compare({m: prop.value(s) for m, s in seen.items()})
    thumbprints = _thumbprints(prop, seen)
    notes = _notes(group, thumbprints, _uncommon_names(prop, comparison))
    members = ", ".join(comparison.values)
    if comparison.agree:
        shared = next(iter(comparison.values.values())).shared
        observed = f"every member ({members}): {shared}"
        if thumbprints:
            observed += " (the same names from different certificates, e.g. staggered renewals: that is fine)"
    elif comparison.majority is None:
        observed = f"no value has a majority: {_listing(comparison)}"
    else:
        odd = "; ".join(f"{m} has {comparison.values[m].text}" for m in comparison.odd)
        observed = (
            f"{odd}; {', '.join(comparison.holders(comparison.majority))} have {comparison.majority_text}"
        )
    expected = f"the same {prop.label} on every member of {group.describe()}"
    if comparison.majority is not None and not comparison.agree:
        expected += f": {comparison.majority_text}, as most members have"
    return Finding(
        "",
        f"{prop.label} across {group.describe()}",
        comparison.agree,
        observed,
        expected,
        why="" if comparison.agree else drift.why,
        remediation=_remediation(prop, group, comparison, seen) if not comparison.agree else "",
        notes=tuple(notes),
        details=((DRIFT_PROPERTY, drift_row(group, requirement, prop.name, prop.label, comparison, notes)),),
    )


def _register(drift: Drift) -> None:
    def evaluate(world: EvidenceView, key: str) -> Finding:
        return judge(world, key, drift)

    evaluate.__name__ = evaluate.__qualname__ = f"drift_{drift.requirement.id[-2:]}"
    check(drift.requirement, drift.cases())(evaluate)


for _drift in DRIFTS:
    _register(_drift)

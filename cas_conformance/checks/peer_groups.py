"""Peer groups: the Client Access servers that stand behind one name and so must agree (DRIFT-*).

A peer group is the Client Access servers of one CAS array, or, where an AD site has no array, of
that site; the inventory variable ``peer_group`` (host or group variable) overrides both. Only
Exchange 2010 servers are compared (a newer server in the site during a migration has other
defaults by design). This module finds the groups and judges a comparison by majority; what is
compared, and how to fix it, lives in ``drift``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cas_conformance.checks.base import Case, FactsUnavailable, NotApplicable
from cas_conformance.checks.subjects import placeholder, safe_id
from cas_conformance.domain.facts import ExchangeServer
from cas_conformance.evidence.view import EvidenceView, ServerRecord

KEY_SEPARATOR = "|"
DRIFT_PROPERTY = "drift"  # the report property that carries one comparison row (JSON)


@dataclass(frozen=True)
class Member:
    host: str  # the inventory host
    name: str  # the Exchange server name (CAS01), or the host when its facts are unknown


@dataclass(frozen=True)
class PeerGroup:
    name: str
    basis: str  # "CAS array outlook.contoso.lab", "AD site DR", "peer_group = X"
    members: tuple[Member, ...]
    unplaced: tuple[str, ...] = ()  # array members the inventory does not list (not compared)

    def describe(self) -> str:
        return f"peer group {self.name} ({self.basis})"


def _exchange_server(world: EvidenceView, rec: ServerRecord) -> ExchangeServer | None:
    if rec.facts is not None:
        return rec.facts.local
    return world.org_server(rec.host) or world.org_server(rec.host.split(".", 1)[0])


def peer_groups(world: EvidenceView) -> tuple[list[PeerGroup], list[ServerRecord]]:
    """The peer groups of the inventory, and the hosts that could not be placed in one (their
    facts are unknown and no other server's facts or variable say where they belong)."""
    arrays = {a.site_name.lower(): a for a in world.arrays()}
    grouped: dict[str, list[tuple[Member, str]]] = {}
    unplaced: list[ServerRecord] = []
    for rec in world.servers.values():
        server = _exchange_server(world, rec)
        override = rec.settings.peer_group
        if server is None:
            if override is None:
                unplaced.append(rec)
            else:
                grouped.setdefault(override, []).append(
                    (Member(rec.host, rec.host), f"peer_group = {override}")
                )
            continue
        version = server.version
        if not server.is_client_access or (version is not None and version.major >= 15):
            continue
        if override is not None:
            name, basis = override, f"peer_group = {override}"
        else:
            name = server.site_name
            array = arrays.get(name.lower())
            basis = f"CAS array {array.fqdn}" if array else f"AD site {name}"
        grouped.setdefault(name, []).append((Member(rec.host, server.name), basis))
    groups = []
    for name in sorted(grouped, key=str.lower):
        entries = grouped[name]
        members = tuple(sorted((m for m, _ in entries), key=lambda m: m.name.lower()))
        basis = " + ".join(sorted({b for _, b in entries}))
        known = {m.name.lower() for m in members} | {m.host.lower().split(".", 1)[0] for m in members}
        array = arrays.get(name.lower())
        absent = tuple(n for n in (array.members if array else ()) if n.lower() not in known)
        groups.append(PeerGroup(name, basis, members, absent))
    return groups, unplaced


def group_cases(world: EvidenceView, properties: Sequence[str]) -> list[Case]:
    """One case per peer group and compared property (``HQ-owa-internal-host``). A group with a
    member whose facts could not be gathered cannot be compared: it yields an error placeholder
    for that member instead (as every subject does for a server it cannot see), and so does a
    server whose peer group is unknown."""
    groups, unplaced = peer_groups(world)
    cases: list[Case] = []
    for group in groups:
        missing = [world.servers[m.host] for m in group.members if world.servers[m.host].facts is None]
        if not missing:
            cases += [
                Case(f"{group.name}{KEY_SEPARATOR}{p}", safe_id(f"{group.name}-{p}")) for p in properties
            ]
        cases += [
            placeholder(rec, world, f"{group.describe()} cannot be compared without it") for rec in missing
        ]
    cases += [_unplaced(world, rec) for rec in unplaced]
    return cases


def _unplaced(world: EvidenceView, rec: ServerRecord) -> Case:
    if rec.facts is None:
        return placeholder(rec, world, "its peer group is unknown")
    listed = f"the collector ran on {rec.facts.local_server}, which Get-ExchangeServer did not list"
    return Case(
        rec.host, safe_id(world.label(rec.host)), rec.host, f"{rec.host}: {listed}; its peer group is unknown"
    )


def find_group(world: EvidenceView, key: str) -> tuple[PeerGroup, str]:
    name, sep, prop = key.rpartition(KEY_SEPARATOR)
    if not sep:
        raise FactsUnavailable(f"{key} names no peer group and property")
    for group in peer_groups(world)[0]:
        if group.name == name:
            return group, prop
    raise FactsUnavailable(f"there is no peer group {name} in this run")


# --- judging one property across the members -------------------------------------------------


@dataclass(frozen=True)
class Value:
    """What one member has: ``key`` is compared, ``text`` is shown; ``common`` is the text of the
    key itself where a member's text names the member (``its own name`` for ``cas01...``)."""

    key: str
    text: str
    common: str = ""

    @property
    def shared(self) -> str:
        return self.common or self.text


@dataclass(frozen=True)
class Comparison:
    values: dict[str, Value]  # member name -> its value, in member order
    majority: str | None  # the key more than half of the members have
    odd: tuple[str, ...]  # members whose key differs from the majority (all of them without one)

    @property
    def agree(self) -> bool:
        return len({v.key for v in self.values.values()}) <= 1

    def holders(self, key: str) -> list[str]:
        return [m for m, v in self.values.items() if v.key == key]

    def by_value(self) -> list[tuple[str, list[str]]]:
        """Each distinct value (its first member's text) with its members, most common first."""
        keys = list(dict.fromkeys(v.key for v in self.values.values()))
        keys.sort(key=lambda k: -len(self.holders(k)))
        return [(self.values[self.holders(k)[0]].shared, self.holders(k)) for k in keys]

    @property
    def majority_text(self) -> str:
        if self.majority is None:
            return ""
        return self.values[self.holders(self.majority)[0]].shared


def compare(values: Mapping[str, Value]) -> Comparison:
    counts: dict[str, int] = {}
    for value in values.values():
        counts[value.key] = counts.get(value.key, 0) + 1
    majority = next((k for k, n in counts.items() if n * 2 > len(values)), None)
    odd = tuple(m for m, v in values.items() if v.key != majority)
    return Comparison(dict(values), majority, odd)


@dataclass(frozen=True)
class Seen:
    """A member as the comparison saw it: its record and its Exchange server."""

    rec: ServerRecord
    server: ExchangeServer


def member_records(world: EvidenceView, group: PeerGroup) -> dict[str, Seen]:
    """Every member by Exchange name; any member whose facts are unknown makes the comparison
    unknown (FactsUnavailable): a group is never judged on the members that happened to answer."""
    seen: dict[str, Seen] = {}
    for member in group.members:
        rec = world.servers[member.host]
        facts = rec.require()
        local = facts.local
        if local is None:
            raise FactsUnavailable(
                f"{rec.host}: the collector ran on {facts.local_server}, which Get-ExchangeServer did not list"
            )
        seen[local.name] = Seen(rec, local)
    return seen


def single_member(group: PeerGroup, requirement: str, prop: str, label: str) -> NotApplicable:
    member = group.members[0]
    reason = f"{group.describe()} has one member ({member.name}): there is nothing to compare it with"
    return NotApplicable(reason, ((DRIFT_PROPERTY, drift_row(group, requirement, prop, label, None)),))


def drift_row(
    group: PeerGroup,
    requirement: str,
    prop: str,
    label: str,
    comparison: Comparison | None,
    notes: Sequence[str] = (),
) -> str:
    """The comparison as the reports read it (property x member), JSON."""
    row: dict[str, object] = {
        "group": group.name,
        "basis": group.basis,
        "members": [m.name for m in group.members],
        "unplaced": list(group.unplaced),
        "requirement": requirement,
        "property": prop,
        "label": label,
        "values": {},
        "majority": None,
        "odd": [],
        "notes": list(notes),
    }
    if comparison is not None:
        row["values"] = {m: v.text for m, v in comparison.values.items()}
        row["majority"] = comparison.majority_text or None
        row["odd"] = list(comparison.odd) if not comparison.agree else []
    return json.dumps(row, ensure_ascii=False, sort_keys=True)

"""The peer groups of a run (DRIFT-*), read back from the tests' reports.

Each DRIFT test carries its comparison (one property across one peer group: every member's value,
the majority, the odd members) as the ``drift`` report property, so results.json and the HTML drift
view are built from the same records as everything else, on the process that writes reports, and
agree with each test's outcome (a waived test shows as waived). A DRIFT test that errored carries
no comparison: it stays in results.json's tests with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cas_conformance.report.records import TestRecord

DRIFT_PROPERTY = "drift"


@dataclass
class DriftRow:
    requirement: str
    property: str
    label: str
    outcome: str
    nodeid: str
    values: dict[str, str]
    majority: str | None
    odd: list[str]
    notes: list[str] = field(default_factory=list)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "requirement": self.requirement,
            "property": self.property,
            "label": self.label,
            "outcome": self.outcome,
            "nodeid": self.nodeid,
            "values": dict(self.values),
            "majority": self.majority,
            "odd": list(self.odd),
            "notes": list(self.notes),
        }


@dataclass
class DriftGroup:
    name: str
    basis: str
    members: list[str]
    unplaced: list[str]
    rows: list[DriftRow] = field(default_factory=list)

    @property
    def skip_reason(self) -> str:
        """Why nothing was compared (a group of one), or empty."""
        return next((r.message for r in self.rows if r.outcome == "skipped" and not r.values), "")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "basis": self.basis,
            "members": list(self.members),
            "unplaced": list(self.unplaced),
            "properties": [r.to_json() for r in self.rows],
        }


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def drift_groups(records: Sequence[TestRecord]) -> list[DriftGroup]:
    """Every peer group some DRIFT test compared (or skipped), in name order."""
    groups: dict[str, DriftGroup] = {}
    for record in records:
        raw = record.props.get(DRIFT_PROPERTY)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        name = str(data.get("group", ""))
        group = groups.setdefault(
            name,
            DriftGroup(
                name,
                str(data.get("basis", "")),
                _strings(data.get("members")),
                _strings(data.get("unplaced")),
            ),
        )
        values = data.get("values")
        majority = data.get("majority")
        group.rows.append(
            DriftRow(
                record.requirement,
                str(data.get("property", "")),
                str(data.get("label", "")),
                record.outcome,
                record.nodeid,
                {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {},
                None if majority is None else str(majority),
                _strings(data.get("odd")),
                _strings(data.get("notes")),
                record.message,
            )
        )
    return [groups[n] for n in sorted(groups, key=str.lower)]


def unjudged(records: Sequence[TestRecord]) -> list[TestRecord]:
    """DRIFT tests without a comparison: they errored (a member could not be read)."""
    return [r for r in records if r.requirement.startswith("DRIFT-") and DRIFT_PROPERTY not in r.props]

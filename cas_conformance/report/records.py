"""One record per test of the run, built from pytest's reports on the process that writes reports.

Under xdist the controller never runs a test: it only receives each worker's ``TestReport``,
serialized. ``user_properties`` (requirement, severity, server, object, observed, expected,
remediation) and ``wasxfail`` survive that trip, so every report this module reads is built from
those attributes alone and the controller sees the same records as a serial run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("passed", "failed", "error", "skipped", "waived")
"""The outcomes of results.json, from best to worst is not implied: see ``WORST_FIRST``."""

WORST_FIRST = ("error", "failed", "waived", "passed", "skipped")
"""Aggregation order: a matrix cell shows the worst outcome of its tests."""

FIELDS = ("requirement", "severity", "server", "object", "observed", "expected", "remediation")


@dataclass
class TestRecord:
    """What results.json, the matrix, the gate and remediation.ps1 know about one test."""

    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    requirement: str = ""
    severity: str = ""
    server: str = ""
    object: str = ""
    outcome: str = "passed"
    observed: str = ""
    expected: str = ""
    remediation: str = ""
    message: str = ""
    duration: float = 0.0
    waiver: dict[str, Any] | None = None
    props: dict[str, str] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodeid": self.nodeid,
            "requirement": self.requirement,
            "severity": self.severity,
            "server": self.server,
            "object": self.object,
            "outcome": self.outcome,
            "observed": self.observed,
            "expected": self.expected,
            "remediation": self.remediation,
            "message": self.message,
            "duration": round(self.duration, 3),
        }
        if self.waiver is not None:
            data["waiver"] = dict(self.waiver)
        return data


def _properties(report: Any) -> dict[str, str]:
    """user_properties as a dict; after xdist's round trip each pair may be a list, not a tuple."""
    props: dict[str, str] = {}
    for pair in getattr(report, "user_properties", None) or ():
        if len(pair) == 2:
            props[str(pair[0])] = "" if pair[1] is None else str(pair[1])
    return props


def _skip_reason(report: Any) -> str:
    longrepr = getattr(report, "longrepr", None)
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(getattr(report, "longreprtext", "") or "")


class RecordCollector:
    """Folds the setup, call and teardown reports of each test into one ``TestRecord``."""

    def __init__(self) -> None:
        self._records: dict[str, TestRecord] = {}

    def add(self, report: Any) -> None:
        when = getattr(report, "when", None)
        if when not in ("setup", "call", "teardown") or getattr(report, "outcome", "") == "rerun":
            return
        nodeid = str(report.nodeid)
        record = self._records.get(nodeid)
        if record is None:
            record = self._records[nodeid] = TestRecord(nodeid)
        props = _properties(report)
        record.props.update(props)
        for name in FIELDS:
            if name in props:
                setattr(record, name, props[name])
        record.duration += float(getattr(report, "duration", 0.0) or 0.0)
        waived = bool(getattr(report, "wasxfail", None)) and report.outcome == "skipped"
        if when in ("setup", "call"):
            if report.outcome == "failed":
                # A failing setup is an error, a failing call a failure (as pytest counts them).
                failed_as = "error" if when == "setup" else "failed"
                record.outcome, record.message = failed_as, str(report.longreprtext)
            elif waived:
                record.outcome, record.message = "waived", str(report.wasxfail)
            elif report.outcome == "skipped":
                record.outcome, record.message = "skipped", _skip_reason(report)
            elif when == "call":
                record.outcome = "passed"
        elif report.outcome == "failed" and record.outcome in ("passed", "skipped", "waived"):
            # A teardown error makes the test an error, as pytest counts it.
            record.outcome, record.message = "error", str(report.longreprtext)

    def records(self) -> list[TestRecord]:
        return list(self._records.values())

    def __iter__(self) -> Iterator[TestRecord]:
        return iter(self._records.values())

    def __len__(self) -> int:
        return len(self._records)


def worst(outcomes: Iterable[str]) -> str:
    present = set(outcomes)
    return next((o for o in WORST_FIRST if o in present), "skipped")


def server_aliases(hosts: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Lower-cased names -> inventory host, from (inventory host, Exchange server name) pairs.

    Checks name a test's server in whichever form the facts use: the inventory host
    (``cas01.contoso.lab``), the Exchange server name (``MBX01``, a database's server) or a virtual
    directory identity (``CAS01\\EWS (Default Web Site)``). The matrix and results.json need one
    name per server, the inventory's.
    """
    aliases: dict[str, str] = {}
    pairs = list(hosts)
    firsts = [h.split(".", 1)[0].lower() for h, _ in pairs]
    for (host, exchange_name), first in zip(pairs, firsts, strict=True):
        aliases[host.lower()] = host
        if exchange_name:
            aliases.setdefault(exchange_name.lower(), host)
        if firsts.count(first) == 1:
            aliases.setdefault(first, host)
    return aliases


def canonical_server(value: str, aliases: dict[str, str]) -> str:
    """The inventory host *value* names, or *value* itself when it names none."""
    if not value:
        return value
    name = value.split("\\", 1)[0].strip().lower()
    return aliases.get(value.lower()) or aliases.get(name) or value

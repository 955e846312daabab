"""Waivers: known, accepted failures with a reason, an owner and an expiry date.

A change board accepts a deviation for a while ("DB07 keeps the old array until the move on
2026-03-01"); the suite must then stop shouting about it without forgetting it. A waiver matches a
test by node-id pattern or by requirement + object; a matching failure becomes ``waived`` (pytest's
xfail, with the reason), an expired waiver lets the failure count again and says so, and a waiver
that matches no test of the run is reported, since it most likely has a typo or outlived its object.

Only failed checks are waived: a test that could not gather its facts stays an error (fail closed).

File format (TOML, one ``[[waiver]]`` table each)::

    [[waiver]]
    test = "tests_cas/test_owa_failback_url.py::test_failback_url_set[cas01-*"
    reason = "FailbackUrl arrives with change CHG-1234"
    owner = "jane.doe@contoso.com"
    expires = 2026-03-31          # last day the waiver applies (TOML date or "YYYY-MM-DD")

    [[waiver]]
    requirement = "OUT-01"
    object = "DB07"               # as in the report's Object column
    ...

Patterns use ``*`` (any text) and ``?`` (one character) only; every other character, ``[`` and
``]`` of a parametrized node id included, matches itself.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cas_conformance.checks import requirement
from cas_conformance.domain.catalogue import ID_PATTERN
from cas_conformance.errors import CasConformanceError
from cas_conformance.report.records import TestRecord

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_KEYS = {"test", "requirement", "object", "reason", "owner", "expires"}
_HEADER = re.compile(r"^\s*\[\[\s*waiver\s*\]\]")
_LINE_IN_TOML_ERROR = re.compile(r"\(at line (\d+), column \d+\)")


class WaiverFileError(CasConformanceError):
    """A waivers file that cannot be used; the message starts with ``file:line:`` where known."""


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` are wildcards; everything else (brackets of node ids too) is literal."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class Waiver:
    index: int  # 1-based position in the file
    line: int
    reason: str
    owner: str
    expires: date
    test: str | None = None
    requirement: str | None = None
    object: str | None = None
    _test_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _object_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def target(self) -> str:
        if self.test is not None:
            return f"test {self.test}"
        return f"{self.requirement} on {self.object}"

    def matches(self, nodeid: str, requirement_id: str, obj: str) -> bool:
        if self._test_re is not None:
            return self._test_re.fullmatch(nodeid) is not None
        if self._object_re is None or requirement_id != self.requirement:
            return False
        return self._object_re.fullmatch(obj) is not None

    def expired(self, today: date) -> bool:
        """A waiver applies up to and including its expiry date."""
        return today > self.expires

    def describe(self) -> str:
        return f"{self.target}: {self.reason} (owner {self.owner}, expires {self.expires.isoformat()})"

    def to_json(self, today: date) -> dict[str, Any]:
        data: dict[str, Any] = {
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            "status": "expired" if self.expired(today) else "active",
            "line": self.line,
        }
        if self.test is not None:
            data["test"] = self.test
        else:
            data["requirement"] = self.requirement or ""
            data["object"] = self.object or ""
        return data


@dataclass(frozen=True)
class WaiverSet:
    path: str | None
    waivers: tuple[Waiver, ...] = ()

    def find(self, nodeid: str, requirement_id: str, obj: str) -> Waiver | None:
        """The first waiver in file order that matches the test."""
        return next((w for w in self.waivers if w.matches(nodeid, requirement_id, obj)), None)

    def __bool__(self) -> bool:
        return bool(self.waivers)


def _header_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), start=1) if _HEADER.match(line)]


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise WaiverFileError(f"{where}: expires must be a date like 2026-03-31, got {value!r}")


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise WaiverFileError(f"{where}: waiver needs a non-empty {key!r} (text)")
    return value.strip()


def _one(entry: dict[str, Any], index: int, line: int, where: str) -> Waiver:
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        known = ", ".join(sorted(_KEYS))
        raise WaiverFileError(f"{where}: unknown key(s) {', '.join(unknown)} (a waiver has {known})")
    reason, owner = _text(entry, "reason", where), _text(entry, "owner", where)
    if "expires" not in entry:
        raise WaiverFileError(f"{where}: waiver needs an 'expires' date (the last day it applies)")
    expires = _as_date(entry["expires"], where)
    has_test = "test" in entry
    has_pair = "requirement" in entry or "object" in entry
    if has_test == has_pair:
        raise WaiverFileError(f"{where}: a waiver names either 'test' or 'requirement' and 'object'")
    if has_test:
        test = _text(entry, "test", where)
        return Waiver(index, line, reason, owner, expires, test=test, _test_re=pattern_regex(test))
    req_id, obj = _text(entry, "requirement", where), _text(entry, "object", where)
    if not ID_PATTERN.match(req_id):
        raise WaiverFileError(f"{where}: {req_id!r} is not a requirement id (like OUT-01)")
    try:
        requirement(req_id)
    except KeyError:
        raise WaiverFileError(f"{where}: unknown requirement {req_id!r}") from None
    return Waiver(
        index, line, reason, owner, expires, requirement=req_id, object=obj, _object_re=pattern_regex(obj)
    )


def parse_waivers(text: str, path: str) -> WaiverSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _LINE_IN_TOML_ERROR.search(str(exc))
        at = f"{found.group(1)}:" if found else ""
        raise WaiverFileError(f"{path}:{at} not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"waiver"})
    if unknown:
        raise WaiverFileError(
            f"{path}: unknown top-level key(s) {', '.join(unknown)} (use [[waiver]] tables)"
        )
    entries = data.get("waiver", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise WaiverFileError(f"{path}: 'waiver' must be an array of tables: write each as [[waiver]]")
    lines = _header_lines(text)
    waivers = []
    for index, entry in enumerate(entries, start=1):
        line = lines[index - 1] if index - 1 < len(lines) else 0
        where = f"{path}:{line}" if line else f"{path}: waiver {index}"
        waivers.append(_one(entry, index, line, where))
    return WaiverSet(path, tuple(waivers))


def load_waivers(path: str | Path) -> WaiverSet:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WaiverFileError(f"{path}: cannot read waivers: {exc}") from None
    return parse_waivers(text, str(path))


@dataclass(frozen=True)
class WaiverUse:
    """How one waiver fared in a run."""

    waiver: Waiver
    status: str  # applied, expired, not-needed, errors-only, unmatched
    tests: tuple[str, ...]
    outcomes: tuple[str, ...] = ()  # each matched test's outcome, in the order of tests

    @property
    def counted(self) -> int:
        """The tests the waiver acts on: waived failures (applied), failures again (expired)."""
        wanted = "failed" if self.status == "expired" else "waived"
        return self.outcomes.count(wanted)


def waiver_usage(waivers: WaiverSet, records: Iterable[TestRecord], today: date) -> list[WaiverUse]:
    """Each waiver with the tests it matched: applied (waived a failure), expired (matched, past its
    date), not-needed (its tests pass or skip), errors-only (its tests could not be checked, which no
    waiver covers) or unmatched (matched no test)."""
    matched: dict[int, list[TestRecord]] = {w.index: [] for w in waivers.waivers}
    for record in records:
        waiver = waivers.find(record.nodeid, record.requirement, record.object)
        if waiver is not None:
            matched[waiver.index].append(record)
    uses = []
    for waiver in waivers.waivers:
        tests = matched[waiver.index]
        ids = tuple(r.nodeid for r in tests)
        if not tests:
            status = "unmatched"
        elif waiver.expired(today):
            status = "expired"
        elif any(r.outcome == "waived" for r in tests):
            status = "applied"
        elif all(r.outcome in ("passed", "skipped") for r in tests):
            status = "not-needed"
        else:
            status = "errors-only"
        uses.append(WaiverUse(waiver, status, ids, tuple(r.outcome for r in tests)))
    return uses


def usage_lines(uses: Sequence[WaiverUse]) -> list[str]:
    """Terminal lines: every waiver that needs attention, then a count of the applied ones."""
    lines = []
    for use in uses:
        w = use.waiver
        if use.status == "unmatched":
            lines.append(f"UNMATCHED waiver (line {w.line}) matches no test of this run: {w.describe()}")
        elif use.status == "expired":
            lines.append(
                f"EXPIRED waiver (line {w.line}) on {w.expires.isoformat()}, owner {w.owner}: "
                f"{use.counted} failing test(s) count again: {w.target}"
            )
        elif use.status == "not-needed":
            lines.append(f"waiver (line {w.line}) not needed, its tests pass: {w.describe()}")
        elif use.status == "errors-only":
            lines.append(f"waiver (line {w.line}) matched only errors, which stay errors: {w.describe()}")
    applied = [u for u in uses if u.status == "applied"]
    for use in applied:
        lines.append(
            f"applied waiver (line {use.waiver.line}) to {use.counted} failing test(s): {use.waiver.describe()}"
        )
    return lines


def waive_report(report: Any, props: dict[str, str], waivers: WaiverSet, today: date) -> Waiver | None:
    """Apply the first matching waiver to a failed check's call report, in place.

    Active: the report becomes an xfail with the waiver's reason (pytest's own convention, so the
    terminal, JUnit and pytest-html all show it as an expected failure). Expired: the failure stays
    and its text starts by saying so, with the owner to chase. Errors and passes are left alone.
    """
    if getattr(report, "when", None) != "call" or getattr(report, "outcome", None) != "failed":
        return None
    waiver = waivers.find(str(report.nodeid), props.get("requirement", ""), props.get("object", ""))
    if waiver is None:
        return None
    if waiver.expired(today):
        note = (
            f"waiver EXPIRED on {waiver.expires.isoformat()} (owner {waiver.owner}, "
            f"{waivers.path}:{waiver.line}): {waiver.reason}; the failure counts again"
        )
        crash = getattr(report.longrepr, "reprcrash", None)
        if crash is not None and hasattr(report.longrepr, "addsection"):
            # The crash message is the short summary's line and JUnit's failure message: the note
            # goes first there; the full text gets it as a section.
            crash.message = f"{note}\n{crash.message}"
            report.longrepr.addsection("waiver expired", note)
        else:
            report.longrepr = f"{note}\n{report.longreprtext}"
    else:
        report.outcome = "skipped"
        report.wasxfail = f"waived until {waiver.expires.isoformat()} by {waiver.owner}: {waiver.reason}"
    return waiver

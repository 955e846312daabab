"""Migration gates: judge a run against an earlier run's results.json by its regressions only.

A migration step is accepted when it broke nothing that worked before, even if the organisation
still has old, known failures. So with ``--baseline`` the run reports everything as usual, but its
exit status says only whether something regressed:

- regression: passed in the baseline, now failed or error;
- new failure: failed or error now, and the baseline had no verdict for it (the test did not exist,
  or was skipped because the requirement did not apply); blocks the gate unless
  ``--gate new-failures=allow``;
- fixed: failed, error or waived in the baseline, passed now;
- new: not in the baseline at all (any outcome); missing: in the baseline, not run now.

A test that failed in the baseline and still fails, or errored then and errors now, does not block.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cas_conformance.errors import CasConformanceError
from cas_conformance.report.records import OUTCOMES, TestRecord

RESULTS_SCHEMA_ID = "cas-conformance/results/1"
FAILING = ("failed", "error")
GATE_KEYS = {"new-failures": ("fail", "allow")}


class GateError(CasConformanceError):
    """A --gate option or a baseline file that cannot be used."""


@dataclass(frozen=True)
class GatePolicy:
    new_failures: str = "fail"


def parse_gate_options(values: Sequence[str]) -> GatePolicy:
    """``--gate new-failures=allow`` (repeatable KEY=VALUE options)."""
    settings: dict[str, str] = {}
    for value in values:
        key, sep, choice = value.partition("=")
        key, choice = key.strip(), choice.strip()
        allowed = GATE_KEYS.get(key)
        if not sep or allowed is None:
            known = ", ".join(f"{k}={'|'.join(v)}" for k, v in GATE_KEYS.items())
            raise GateError(f"--gate {value!r}: expected one of {known}")
        if choice not in allowed:
            raise GateError(f"--gate {key}: {choice!r} is not one of {', '.join(allowed)}")
        settings[key] = choice
    return GatePolicy(new_failures=settings.get("new-failures", "fail"))


@dataclass(frozen=True)
class Baseline:
    path: str
    outcomes: dict[str, str]
    started: str


def load_baseline(path: str | Path) -> Baseline:
    """Read an earlier results.json; any other file is a usage error, before anything is contacted."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GateError(f"--baseline {path}: cannot read results: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA_ID:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise GateError(
            f"--baseline {path}: not a results.json of schema {RESULTS_SCHEMA_ID} (found {found!r})"
        )
    tests = data.get("tests")
    if not isinstance(tests, list):
        raise GateError(f"--baseline {path}: 'tests' must be a list")
    outcomes: dict[str, str] = {}
    for number, test in enumerate(tests, start=1):
        if not isinstance(test, dict) or not isinstance(test.get("nodeid"), str):
            raise GateError(f"--baseline {path}: test {number} has no nodeid")
        if test.get("outcome") not in OUTCOMES:
            raise GateError(f"--baseline {path}: test {test['nodeid']} has outcome {test.get('outcome')!r}")
        outcomes[test["nodeid"]] = test["outcome"]
    run = data.get("run")
    started = run.get("start_time") if isinstance(run, dict) else None
    return Baseline(str(path), outcomes, str(started or ""))


@dataclass(frozen=True)
class Change:
    nodeid: str
    before: str | None
    after: str | None

    def to_json(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "before": self.before, "after": self.after}

    def describe(self) -> str:
        return f"{self.nodeid} ({self.before or 'not in baseline'} -> {self.after or 'not run'})"


@dataclass(frozen=True)
class GateResult:
    baseline: Baseline
    policy: GatePolicy
    regressions: tuple[Change, ...]
    new_failures: tuple[Change, ...]
    fixed: tuple[Change, ...]
    new: tuple[Change, ...]
    missing: tuple[Change, ...]
    still_failing: tuple[Change, ...]

    @property
    def blocking(self) -> tuple[Change, ...]:
        if self.policy.new_failures == "allow":
            return self.regressions
        return self.regressions + self.new_failures

    @property
    def passed(self) -> bool:
        return not self.blocking

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.path,
            "baseline_start_time": self.baseline.started,
            "new_failures_policy": self.policy.new_failures,
            "passed": self.passed,
            "regressions": [c.to_json() for c in self.regressions],
            "new_failures": [c.to_json() for c in self.new_failures],
            "fixed": [c.to_json() for c in self.fixed],
            "new": [c.to_json() for c in self.new],
            "missing": [c.to_json() for c in self.missing],
            "still_failing": [c.to_json() for c in self.still_failing],
        }

    def terminal_lines(self) -> list[str]:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"gate {verdict} against {self.baseline.path}: {len(self.regressions)} regression(s), "
            f"{len(self.new_failures)} new failure(s) "
            f"({'allowed' if self.policy.new_failures == 'allow' else 'blocking'}), "
            f"{len(self.fixed)} fixed, {len(self.still_failing)} still failing, "
            f"{len(self.new)} new, {len(self.missing)} not run"
        ]
        sections = (
            ("REGRESSION", self.regressions),
            (
                "NEW FAILURE" if self.policy.new_failures == "fail" else "new failure (allowed)",
                self.new_failures,
            ),
            ("fixed", self.fixed),
            ("new", self.new),
            ("not run now", self.missing),
        )
        for label, changes in sections:
            lines.extend(f"{label}: {c.describe()}" for c in changes)
        return lines


def compare(baseline: Baseline, records: Iterable[TestRecord], policy: GatePolicy) -> GateResult:
    regressions, new_failures, fixed, new, still = [], [], [], [], []
    seen = set()
    for record in records:
        seen.add(record.nodeid)
        before = baseline.outcomes.get(record.nodeid)
        change = Change(record.nodeid, before, record.outcome)
        if before is None:
            new.append(change)
        if record.outcome in FAILING:
            if before == "passed":
                regressions.append(change)
            elif before in (None, "skipped"):
                new_failures.append(change)
            else:
                still.append(change)
        elif record.outcome == "passed" and before in ("failed", "error", "waived"):
            fixed.append(change)
    missing = [Change(n, o, None) for n, o in baseline.outcomes.items() if n not in seen]
    return GateResult(
        baseline,
        policy,
        tuple(regressions),
        tuple(new_failures),
        tuple(fixed),
        tuple(new),
        tuple(missing),
        tuple(still),
    )

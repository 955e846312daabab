"""Evaluate every requirement on a gathered ``EvidenceView`` without pytest: the same cases and verdicts
the suite's tests produce, for the lab's fault matrix, benchmarks and scripts.

``judge`` is the one way a case is judged: the suite's tests (the plugin's ``finding`` fixture) go
through it too, so a run with and without pytest cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from cas_conformance.checks import CHECKS, Case, CheckSpec, FactsUnavailable, Finding, NotApplicable
from cas_conformance.evidence.view import EvidenceView


@dataclass(frozen=True)
class Verdict:
    """The outcome of one requirement on one case: its finding, or why there is none (the
    requirement does not apply, or its facts could not be gathered)."""

    requirement: str
    case: str
    outcome: str  # passed, failed, skipped, error
    finding: Finding | None = None
    without: NotApplicable | FactsUnavailable | None = None

    @property
    def detail(self) -> str:
        """The finding's full text, or the reason there is no finding."""
        return self.finding.message() if self.finding is not None else str(self.without)


def judge(spec: CheckSpec, world: EvidenceView, case: Case) -> Verdict:
    """The verdict of *spec*'s requirement on *case*."""
    req_id = spec.requirement.id
    try:
        finding = spec.judge(world, case)
    except NotApplicable as exc:
        return Verdict(req_id, case.id, "skipped", without=exc)
    except FactsUnavailable as exc:
        return Verdict(req_id, case.id, "error", without=exc)
    return Verdict(req_id, case.id, "passed" if finding.passed else "failed", finding)


def evaluate(world: EvidenceView) -> list[Verdict]:
    """Every requirement on every one of its cases, in the catalogue's order."""
    return [judge(spec, world, case) for spec in CHECKS.values() for case in spec.cases(world)]

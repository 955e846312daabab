"""Evaluate every requirement on a gathered ``EvidenceView`` without pytest: the same cases and verdicts
the suite's tests produce, for the lab's fault matrix, benchmarks and scripts."""

from __future__ import annotations

from dataclasses import dataclass

from cas_conformance.checks import CHECKS, FactsUnavailable, Finding, NotApplicable
from cas_conformance.evidence.view import EvidenceView


@dataclass(frozen=True)
class Verdict:
    requirement: str
    case: str
    outcome: str  # passed, failed, skipped, error
    detail: str
    finding: Finding | None = None


def evaluate(world: EvidenceView) -> list[Verdict]:
    verdicts = []
    for req_id, spec in CHECKS.items():
        for case in spec.cases(world):
            try:
                finding = spec.judge(world, case)
            except NotApplicable as exc:
                verdicts.append(Verdict(req_id, case.id, "skipped", exc.reason))
                continue
            except FactsUnavailable as exc:
                verdicts.append(Verdict(req_id, case.id, "error", str(exc)))
                continue
            outcome = "passed" if finding.passed else "failed"
            verdicts.append(Verdict(req_id, case.id, outcome, finding.message(), finding))
    return verdicts

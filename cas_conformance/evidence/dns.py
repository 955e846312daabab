"""DNS evidence: every question the checks declared, each asked once (on the shared pool, before
the probes need the names), and every other answer of the run (the dialer's), saved for the audit."""

from __future__ import annotations

from typing import Any

from cas_conformance.domain.records.dns import DnsAnswer, Question, question
from cas_conformance.evidence.kind import Fetching, Kind, Loading
from cas_conformance.evidence.model import DnsEvidence, Needs, frozen_map


def fetch(ctx: Fetching, needs: Needs) -> DnsEvidence:
    asked = sorted(needs.resolve)
    answers = list(ctx.pool.map(lambda q: ctx.resolver.resolve(q[0], q[1]), asked))
    ctx.progress("dns-done", "", f"{len(asked)} names")
    return DnsEvidence(frozen_map(zip(asked, answers, strict=True)), frozenset(asked))


def finish(part: DnsEvidence, ctx: Fetching) -> DnsEvidence:
    """Every answer the run's resolver gave, the declared ones and those the dialer asked for."""
    every = {question(a.name, a.rdtype): a for a in ctx.resolver.answers()}
    return DnsEvidence(frozen_map({**every, **part.answers}), part.declared)


def save(part: DnsEvidence) -> dict[str, Any]:
    return {
        "answers": [a.to_dict() for a in part.answers.values()],
        "declared": sorted([name, rdtype] for name, rdtype in part.declared),
    }


def load(data: Any, loading: Loading) -> DnsEvidence:
    answers = [DnsAnswer.from_dict(a) for a in data["answers"]]
    declared: frozenset[Question] = frozenset(question(str(n), str(t)) for n, t in data["declared"])
    return DnsEvidence(frozen_map((question(a.name, a.rdtype), a) for a in answers), declared)


KIND = Kind("dns", save, load, fetch, finish)

"""SMTP evidence: for each declared mail domain, its most preferred MX host greeted on port 25."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cas_conformance.channels.smtp import SmtpProbe, probe_smtp
from cas_conformance.evidence.kind import Fetching, Kind, Loading
from cas_conformance.evidence.model import Needs, frozen_map


def fetch(ctx: Fetching, needs: Needs) -> Mapping[str, SmtpProbe]:
    def smtp_for(domain: str) -> tuple[str, SmtpProbe | None]:
        mx = ctx.resolver.resolve(domain, "MX")  # declared by the same checks: answered already
        if not mx.ok:
            return domain, None
        records = sorted(mx.records, key=lambda r: int(r.split()[0]))
        host = records[0].split()[-1].rstrip(".")
        return domain, probe_smtp(ctx.dialer, host, timeout=ctx.run.http_timeout)

    return frozen_map((d, p) for d, p in ctx.pool.map(smtp_for, sorted(needs.smtp)) if p is not None)


def save(part: Mapping[str, SmtpProbe]) -> dict[str, Any]:
    return {k: v.to_dict() for k, v in part.items()}


def load(data: Any, loading: Loading) -> Mapping[str, SmtpProbe]:
    return frozen_map((k, SmtpProbe.from_dict(v)) for k, v in data.items())


KIND = Kind("smtp", save, load, fetch)

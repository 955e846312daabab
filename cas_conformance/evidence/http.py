"""HTTP evidence: every declared endpoint probed once without credentials (most started while the
servers were still being collected, see ``http_probes``), and the authenticated Autodiscover request
for each declared mail domain when the inventory names a test mailbox (``probe_credentials``)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import requests

from cas_conformance.channels.http import HttpProbe, probe
from cas_conformance.evidence.kind import Fetching, Kind, Loading
from cas_conformance.evidence.model import STANDARD_PATHS, HttpEvidence, Needs, frozen_map


def _autodiscover_request(email: str) -> bytes:
    """Outlook's POX request for *email* (an address may hold ``&``, ``'`` and more: escaped)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
        f"<Request><EMailAddress>{escape(email)}</EMailAddress>"
        "<AcceptableResponseSchema>"
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        "</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


def fetch(ctx: Fetching, needs: Needs) -> HttpEvidence:
    results = ctx.probes.results()  # every endpoint of needs.probe, started by gather
    probes = frozen_map((e.url, results[e.url]) for e in needs.probe)
    ctx.progress("http-done", "", f"{len(probes)} endpoints on {ctx.probes.hosts} hosts")
    prefix = ctx.run.probe_credentials
    if not prefix:
        return HttpEvidence(probes)
    user = ctx.environ.get(f"{prefix}_USER")
    secret = ctx.environ.get(f"{prefix}_PASSWORD")
    email = ctx.environ.get(f"{prefix}_EMAIL") or user
    if not (user and secret and email):
        return HttpEvidence(probes, probe_user=user, probe_email=email)
    body = _autodiscover_request(email)
    auth = requests.auth.HTTPBasicAuth(user, secret)

    def autodiscover(domain: str) -> tuple[str, HttpProbe]:
        # Outlook's order: https://<domain>/..., then https://autodiscover.<domain>/...
        result: HttpProbe | None = None
        for host in (domain, f"autodiscover.{domain}"):
            url = f"https://{host}{STANDARD_PATHS['autodiscover']}"
            result = probe(
                ctx.auth_session,
                url,
                method="POST",
                timeout=ctx.run.http_timeout,
                data=body,
                headers={"Content-Type": "text/xml"},
                auth=auth,
            )
            if result.error is None and result.status == 200:
                break
        assert result is not None
        return domain, result

    answers = frozen_map(ctx.pool.map(autodiscover, sorted(needs.autodiscover)))
    return HttpEvidence(probes, answers, user, email)


def save(part: HttpEvidence) -> dict[str, Any]:
    return {
        "probes": {k: v.to_dict() for k, v in part.probes.items()},
        "autodiscover": {k: v.to_dict() for k, v in part.autodiscover.items()},
        "probe_user": part.probe_user,
        "probe_email": part.probe_email,
    }


def load(data: Any, loading: Loading) -> HttpEvidence:
    """``probe_email`` may be absent: a file saved before it was kept loads with none, and the
    checks then name the user the request asked about, as that version did (docs/facts-files.md)."""
    return HttpEvidence(
        frozen_map((k, HttpProbe.from_dict(v)) for k, v in data["probes"].items()),
        frozen_map((k, HttpProbe.from_dict(v)) for k, v in data["autodiscover"].items()),
        data["probe_user"],
        data.get("probe_email"),
    )


KIND = Kind("http", save, load, fetch)

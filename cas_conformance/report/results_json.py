"""reports/results.json: every test of the run with its verdict, for tools and later gates.

The document follows ``results.schema.json`` (shipped in this package, id
``cas-conformance/results/1``). It is written once per run, by the process that holds every
test's report (the xdist controller, or the only process), and atomically, so a reader or a later
``--baseline`` never sees half a file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from cas_conformance.domain.visible import json_document
from cas_conformance.report.drift_groups import drift_groups
from cas_conformance.report.gate import RESULTS_SCHEMA_ID, GateResult
from cas_conformance.report.records import OUTCOMES, TestRecord
from cas_conformance.report.waivers import WaiverUse
from cas_conformance.run.output_file import write_text_output

SCHEMA_RESOURCE = "results.schema.json"


def load_schema() -> dict[str, Any]:
    """The JSON Schema of results.json, as shipped with the package."""
    text = resources.files("cas_conformance.report").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def outcome_counts(records: Sequence[TestRecord]) -> dict[str, int]:
    counts = Counter(r.outcome for r in records)
    return {o: counts.get(o, 0) for o in OUTCOMES}


def build_results(
    *,
    run: dict[str, Any],
    records: Sequence[TestRecord],
    waiver_uses: Sequence[WaiverUse] = (),
    gate: GateResult | None = None,
    today: date,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema": RESULTS_SCHEMA_ID,
        "run": {**run, "counts": outcome_counts(records)},
        "tests": [r.to_json() for r in records],
    }
    groups = drift_groups(records)
    if groups:
        document["peer_groups"] = [g.to_json() for g in groups]
    if waiver_uses:
        document["waivers"] = [
            {"waiver": u.waiver.to_json(today), "status": u.status, "tests": list(u.tests)}
            for u in waiver_uses
        ]
    if gate is not None:
        document["gate"] = gate.to_json()
    return document


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """*document* as *path*, through a private file beside it renamed over it (a link at *path* is
    replaced, not followed; results.json holds evidence: mode 0600). No raw control character."""
    text = json_document(document, indent=1) + "\n"
    write_text_output(path, text, private=True)

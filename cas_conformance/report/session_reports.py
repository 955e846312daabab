"""Everything a run writes besides pytest's own reports, held by the process that sees every test.

The plugin feeds each ``TestReport`` in (``add``) and calls ``finish`` once at session end: it
folds the reports into records, marks waivers, judges the gate, writes results.json and
remediation.ps1, and returns the exit status the run should have. Under xdist only the controller
holds one of these; workers only run tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from cas_conformance.report.gate import Baseline, GatePolicy, GateResult, compare
from cas_conformance.report.html_summary import summary_html
from cas_conformance.report.records import RecordCollector, TestRecord
from cas_conformance.report.remediation_ps1 import render_remediation_script
from cas_conformance.report.results_json import build_results, outcome_counts, write_json_atomically
from cas_conformance.report.run_metadata import RunMetadata
from cas_conformance.report.waivers import WaiverSet, WaiverUse, usage_lines, waiver_usage
from cas_conformance.run.output_file import write_output

RESULTS_NAME = "results.json"
REMEDIATION_NAME = "remediation.ps1"


def gate_exit_status(exitstatus: int, gate: GateResult | None) -> int:
    """With a gate, a finished run (0 or 1) exits by its regressions only; usage errors,
    interruptions and internal errors keep their own status."""
    if gate is None or exitstatus not in (0, 1):
        return exitstatus
    return 0 if gate.passed else 1


@dataclass
class SessionReports:
    reports_dir: Path
    metadata: RunMetadata
    waivers: WaiverSet = field(default_factory=lambda: WaiverSet(None))
    baseline: Baseline | None = None
    policy: GatePolicy = field(default_factory=GatePolicy)
    collector: RecordCollector = field(default_factory=RecordCollector)
    records: list[TestRecord] = field(default_factory=list)
    waiver_uses: list[WaiverUse] = field(default_factory=list)
    gate: GateResult | None = None
    written: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    @property
    def results_path(self) -> Path:
        return self.reports_dir / RESULTS_NAME

    @property
    def remediation_path(self) -> Path:
        return self.reports_dir / REMEDIATION_NAME

    def add(self, report: Any) -> None:
        self.collector.add(report)

    def finish(self, exitstatus: int, *, today: date | None = None, write: bool = True) -> int:
        """Judge and write everything once; return the run's exit status."""
        today = today or date.today()
        self.records = self.collector.records()
        for record in self.records:
            waiver = self.waivers.find(record.nodeid, record.requirement, record.object)
            if waiver is not None and record.outcome in ("failed", "waived"):
                record.waiver = waiver.to_json(today)
        self.waiver_uses = waiver_usage(self.waivers, self.records, today)
        if self.baseline is not None:
            self.gate = compare(self.baseline, self.records, self.policy)
        status = gate_exit_status(exitstatus, self.gate)
        self.finished = True
        if not write:
            return status
        run = {
            **self.metadata.to_json(),
            "finish_time": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "baseline": self.baseline.path if self.baseline else None,
            "waivers_file": self.waivers.path,
            "exit_status": int(status),
        }
        document = build_results(
            run=run, records=self.records, waiver_uses=self.waiver_uses, gate=self.gate, today=today
        )
        write_json_atomically(self.results_path, document)
        self.written["results.json"] = str(self.results_path)
        script = render_remediation_script(self.records, self.metadata.display())
        # UTF-8 with a BOM: Windows PowerShell 5.1 reads a BOM-less script as the ANSI code page.
        # Written beside its path and renamed over it: a link at the path is replaced, not followed.
        write_output(self.remediation_path, script.encode("utf-8-sig"))
        self.written["remediation.ps1"] = str(self.remediation_path)
        return status

    def terminal_sections(self) -> list[tuple[str, list[str]]]:
        sections: list[tuple[str, list[str]]] = []
        if not self.finished:
            return sections
        if self.gate is not None:
            sections.append(("cas-conformance gate", self.gate.terminal_lines()))
        if self.waiver_uses:
            sections.append((f"cas-conformance waivers ({self.waivers.path})", usage_lines(self.waiver_uses)))
        counts = outcome_counts(self.records)
        lines = [", ".join(f"{n} {o}" for o, n in counts.items())]
        lines.extend(f"{label}: {path}" for label, path in self.written.items())
        sections.append(("cas-conformance reports", lines))
        return sections

    def html_summary(self) -> str:
        return summary_html(
            self.records,
            gate=self.gate,
            waiver_uses=self.waiver_uses,
            waivers_path=self.waivers.path,
            files=self.written,
        )

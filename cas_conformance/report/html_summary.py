"""The top of the HTML report: server x requirement matrix, totals per severity, gate and waivers.

pytest-html pastes these fragments into its page unescaped (``|safe``), so every value is escaped
here: server names, objects and node ids can carry whatever a server, DNS or a certificate sent.
Each outcome has a colour *and* a symbol, so the matrix still reads when printed in greyscale.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from cas_conformance.checks import REQUIREMENTS
from cas_conformance.domain.catalogue import Severity
from cas_conformance.domain.visible import visible, visible_lines
from cas_conformance.report.gate import Change, GateResult
from cas_conformance.report.html_drift import drift_html
from cas_conformance.report.html_symbols import LABELS, SYMBOLS, legend
from cas_conformance.report.records import OUTCOMES, WORST_FIRST, TestRecord, worst
from cas_conformance.report.waivers import WaiverUse

NO_SERVER = "(organisation)"

STYLE = """
<style>
.cas-section { margin: 1em 0; }
.cas-section h2 { margin-bottom: 0.3em; }
table.cas-matrix, table.cas-totals, table.cas-list { border-collapse: collapse; font-size: 13px; }
table.cas-matrix th, table.cas-matrix td, table.cas-totals th, table.cas-totals td,
table.cas-list th, table.cas-list td { border: 1px solid #888; padding: 2px 6px; text-align: center; }
table.cas-matrix th.cas-server, table.cas-list td { text-align: left; }
table.cas-matrix thead th { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }
.cas-cell { font-weight: bold; white-space: nowrap; }
.cas-passed { background: #c8e6c9; color: #1b5e20; }
.cas-failed { background: #c62828; color: #ffffff; }
.cas-error { background: #4a148c; color: #ffffff; border: 2px dashed #000 !important; }
.cas-skipped { background: #f5f5f5; color: #555555; }
.cas-waived { background: #90caf9; color: #0d2c54; font-style: italic; }
.cas-empty { background: #ffffff; }
.cas-gate-passed { color: #1b5e20; } .cas-gate-failed { color: #b71c1c; }
#results-table td.col-testId { overflow-wrap: anywhere; min-width: 16em; }
#results-table td.col-object { overflow-wrap: anywhere; max-width: 22em; }
#results-table pre.remediation { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 48em; margin: 0;
  font-family: "DejaVu Sans Mono", Consolas, "Courier New", monospace; font-size: 12px; user-select: all; }
.cas-reasons summary { cursor: pointer; }
.cas-reasons ul { margin: 0.3em 0 0 0; padding-left: 1.2em; text-align: left; font-weight: normal;
  white-space: normal; min-width: 24em; max-width: 40em; overflow-wrap: anywhere; }
.cas-legend span { display: inline-block; margin-right: 0.6em; padding: 1px 6px; border: 1px solid #888; }
</style>
"""


def _e(value: object) -> str:
    """*value* as HTML text: markup escaped, control characters shown as escapes (``\\x1b``)."""
    return escape(visible_lines(str(value)), quote=True)


MAX_REASONS = 8


def reason(record: TestRecord) -> str:
    """Why a test failed or could not be checked, in one line."""
    if record.outcome == "error":
        cause = record.props.get("unreachable")
        if cause:
            return cause
        first = record.message.strip().splitlines()
        return first[0].removeprefix("could not check: ") if first else "could not be checked"
    return f"{record.object or record.nodeid}: {record.observed or record.message.strip()[:200]}"


def _cell(records: Sequence[TestRecord]) -> str:
    """The worst outcome with its symbol; a cell with failures or errors gives their reasons on
    hover (the title) and on click (a details element, no script)."""
    if not records:
        return '<td class="cas-empty"></td>'
    outcomes = [r.outcome for r in records]
    counts = Counter(outcomes)
    shown = worst(outcomes)
    title = ", ".join(f"{counts[o]} {LABELS[o]}" for o in WORST_FIRST if counts[o])
    count = f" {counts[shown]}" if len(outcomes) > 1 else ""
    reasons = list(dict.fromkeys(reason(r) for r in records if r.outcome in ("failed", "error")))
    symbol = f"{_e(SYMBOLS[shown])}{_e(count)}"
    if not reasons:
        return f'<td class="cas-cell cas-{shown}" data-outcome="{shown}" title="{_e(title)}">{symbol}</td>'
    more = len(reasons) - MAX_REASONS
    reasons = reasons[:MAX_REASONS] + ([f"and {more} more (see the results table)"] if more > 0 else [])
    hover = "\n".join([title, *reasons])
    items = "".join(f"<li>{_e(r)}</li>" for r in reasons)
    return (
        f'<td class="cas-cell cas-{shown}" data-outcome="{shown}" title="{_e(hover)}">'
        f'<details class="cas-reasons"><summary>{symbol}</summary><ul>{items}</ul></details></td>'
    )


def matrix_html(records: Sequence[TestRecord]) -> str:
    """Rows: servers (and the organisation-wide names); columns: requirements of the run."""
    cells: dict[str, dict[str, list[TestRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        cells[record.server or NO_SERVER][record.requirement].append(record)
    present = {r.requirement for r in records}
    # Catalogue order; an id the catalogue does not know (a test outside the suite) goes last.
    columns = [(r.id, f"{r.title} ({r.severity.value})") for r in REQUIREMENTS if r.id in present]
    known = {r.id for r in REQUIREMENTS}
    columns += [(rid, rid or "no requirement") for rid in sorted(present - known)]
    servers = sorted(cells, key=lambda s: (s == NO_SERVER, s.lower()))
    head = "".join(f'<th class="cas-req" title="{_e(title)}">{_e(rid or "-")}</th>' for rid, title in columns)
    rows = []
    for server in servers:
        row = "".join(_cell(cells[server].get(rid, [])) for rid, _ in columns)
        rows.append(f'<tr><th class="cas-server" scope="row">{_e(server)}</th>{row}</tr>')
    return (
        '<div class="cas-section" id="cas-matrix-section"><h2>Servers &#215; requirements</h2>'
        f"{legend()}"
        f'<table class="cas-matrix" id="cas-matrix"><thead><tr><th>Server</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def totals_html(records: Sequence[TestRecord]) -> str:
    table: dict[str, Counter[str]] = {s.value: Counter() for s in Severity}
    for record in records:
        table.setdefault(record.severity or "unknown", Counter())[record.outcome] += 1
    head = "".join(f'<th class="cas-{o}">{_e(SYMBOLS[o])} {_e(o)}</th>' for o in OUTCOMES)
    rows = []
    for severity, counts in table.items():
        values = "".join(f"<td>{counts[o]}</td>" for o in OUTCOMES)
        rows.append(f'<tr><th scope="row">{_e(severity)}</th>{values}<td>{sum(counts.values())}</td></tr>')
    all_counts = Counter(r.outcome for r in records)
    total = "".join(f"<td>{all_counts[o]}</td>" for o in OUTCOMES)
    rows.append(f'<tr><th scope="row">total</th>{total}<td>{len(records)}</td></tr>')
    # pytest-html's own "N tests took ..." line counts passed, failed and waived (xfailed) tests
    # only: say how the two numbers relate, so neither looks wrong.
    ran = all_counts["passed"] + all_counts["failed"] + all_counts["waived"]
    note = (
        f'<p id="cas-totals-note">{len(records)} tests in all. The "{ran} tests took" line of this '
        f"page counts the passed, failed and waived ones only: {all_counts['error']} error(s) (could "
        f"not be checked) and {all_counts['skipped']} skipped (does not apply) are in this table too.</p>"
    )
    return (
        '<div class="cas-section" id="cas-totals-section"><h2>Totals per severity</h2>'
        f'<table class="cas-totals" id="cas-totals"><thead><tr><th>Severity</th>{head}<th>total</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>{note}</div>"
    )


def _changes(title: str, changes: Sequence[Change], css: str) -> str:
    if not changes:
        return ""
    rows = "".join(
        f"<tr><td>{_e(c.nodeid)}</td><td>{_e(c.before or 'not in baseline')}</td>"
        f"<td>{_e(c.after or 'not run')}</td></tr>"
        for c in changes
    )
    return (
        f'<h3 class="{css}">{_e(title)} ({len(changes)})</h3><table class="cas-list">'
        f"<thead><tr><th>Test</th><th>Baseline</th><th>Now</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def gate_html(gate: GateResult) -> str:
    verdict = "PASSED" if gate.passed else "FAILED"
    new_label = "New failures" + (" (allowed)" if gate.policy.new_failures == "allow" else "")
    return (
        '<div class="cas-section" id="cas-gate"><h2>Gate</h2>'
        f'<p class="cas-gate-{verdict.lower()}"><strong>Gate {verdict}</strong> against baseline '
        f"{_e(gate.baseline.path)} ({_e(gate.baseline.started or 'start time unknown')}): "
        f"{len(gate.regressions)} regression(s), {len(gate.new_failures)} new failure(s), "
        f"{len(gate.fixed)} fixed, {len(gate.still_failing)} still failing. "
        "Only regressions (and new failures, unless allowed) decide the exit status.</p>"
        + _changes("Regressions", gate.regressions, "cas-gate-failed")
        + _changes(new_label, gate.new_failures, "cas-gate-failed")
        + _changes("Fixed", gate.fixed, "cas-gate-passed")
        + _changes("New tests", gate.new, "")
        + _changes("Not run now", gate.missing, "")
        + "</div>"
    )


def waivers_html(uses: Sequence[WaiverUse], path: str | None) -> str:
    rows = "".join(
        f'<tr class="cas-waiver-{_e(u.status)}"><td>{_e(u.status)}</td><td>{u.waiver.line}</td>'
        f"<td>{_e(u.waiver.target)}</td><td>{_e(u.waiver.reason)}</td><td>{_e(u.waiver.owner)}</td>"
        f"<td>{_e(u.waiver.expires.isoformat())}</td><td>{len(u.tests)}</td><td>{u.counted}</td></tr>"
        for u in uses
    )
    return (
        f'<div class="cas-section" id="cas-waivers"><h2>Waivers</h2><p>From {_e(path or "?")}</p>'
        '<table class="cas-list"><thead><tr><th>Status</th><th>Line</th><th>Matches</th><th>Reason</th>'
        "<th>Owner</th><th>Expires</th><th>Tests matched</th><th>Waived (failing again, when expired)</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def files_html(files: Mapping[str, str]) -> str:
    items = "".join(f"<li>{_e(label)}: <code>{_e(path)}</code></li>" for label, path in files.items())
    return f'<div class="cas-section" id="cas-files"><h2>Other reports of this run</h2><ul>{items}</ul></div>'


def summary_html(
    records: Sequence[TestRecord],
    *,
    gate: GateResult | None = None,
    waiver_uses: Sequence[WaiverUse] = (),
    waivers_path: str | None = None,
    files: Mapping[str, str] | None = None,
) -> str:
    parts = [STYLE]
    if gate is not None:
        parts.append(gate_html(gate))
    parts.append(matrix_html(records))
    parts.append(totals_html(records))
    parts.append(drift_html(records))
    if waiver_uses:
        parts.append(waivers_html(waiver_uses, waivers_path))
    if files:
        parts.append(files_html(files))
    return "".join(parts)


def escape_environment(environment: Mapping[str, Any]) -> dict[str, Any]:
    """pytest-html renders each environment value with innerHTML (a nested mapping as ``key: value``
    list items) but the top-level key with textContent: escape exactly what becomes markup."""
    escaped: dict[str, Any] = {}
    for key, value in environment.items():
        shown = visible(key)  # text, not markup; its control characters shown all the same
        if isinstance(value, Mapping):
            escaped[shown] = {_e(k): _e(v) for k, v in value.items()}
        else:
            escaped[shown] = _e(value)
    return escaped

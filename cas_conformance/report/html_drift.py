"""The drift view of the HTML report: per peer group, a property x member table.

Each cell shows the member's value; a member that differs from the value most members have (every
member, where no value has a majority) is marked with the symbol and colour of its test's outcome
(failed, or waived), the others with the passed ones, exactly as in the servers x requirements
matrix. Every value is escaped: names, URLs and certificate names come from servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from cas_conformance.domain.visible import visible_lines
from cas_conformance.report.drift_groups import DriftGroup, DriftRow, drift_groups, unjudged
from cas_conformance.report.html_symbols import LABELS, SYMBOLS, legend
from cas_conformance.report.records import TestRecord

STYLE = """
<style>
table.cas-drift { border-collapse: collapse; font-size: 13px; margin-bottom: 0.8em; }
table.cas-drift th, table.cas-drift td { border: 1px solid #888; padding: 2px 6px; text-align: left;
  vertical-align: top; }
table.cas-drift td.cas-cell { font-weight: normal; white-space: normal; overflow-wrap: anywhere; max-width: 28em; }
table.cas-drift .cas-symbol { font-weight: bold; margin-right: 0.3em; }
</style>
"""


def _e(value: object) -> str:
    """*value* as HTML text: markup escaped, control characters shown as escapes (``\\x1b``)."""
    return escape(visible_lines(str(value)), quote=True)


def _marked(outcome: str, text: str, title: str) -> str:
    return (
        f'<td class="cas-cell cas-{outcome}" data-outcome="{outcome}" title="{_e(title)}">'
        f'<span class="cas-symbol">{_e(SYMBOLS[outcome])}</span>{_e(text)}</td>'
    )


def _cell(row: DriftRow, member: str) -> str:
    if member not in row.values:
        outcome = row.outcome if row.outcome in ("skipped", "error") else "skipped"
        return _marked(outcome, "", LABELS[outcome])
    value = row.values[member]
    if member not in row.odd:
        return _marked("passed", value, "agrees with the other members")
    outcome = row.outcome if row.outcome in ("failed", "waived") else "failed"
    title = f"differs: most members have {row.majority}" if row.majority else "no value has a majority"
    return _marked(outcome, value, title)


def group_html(group: DriftGroup) -> str:
    caption = f"Peer group {group.name} ({group.basis}): {', '.join(group.members)}"
    parts = [f'<h3 class="cas-drift-group">{_e(caption)}</h3>']
    if group.unplaced:
        parts.append(
            f"<p>Array members the inventory does not list (not compared): {_e(', '.join(group.unplaced))}</p>"
        )
    if group.skip_reason:
        parts.append(f'<p class="cas-skipped">{_e(SYMBOLS["skipped"])} {_e(group.skip_reason)}</p>')
        return "".join(parts)
    head = "".join(f'<th scope="col">{_e(m)}</th>' for m in group.members)
    rows = []
    for row in group.rows:
        cells = "".join(_cell(row, m) for m in group.members)
        majority = _e(row.majority) if row.majority else ("&#8212;" if row.odd else "")
        rows.append(
            f'<tr data-requirement="{_e(row.requirement)}" data-property="{_e(row.property)}">'
            f'<th scope="row" title="{_e(row.nodeid)}">{_e(row.requirement)} {_e(row.label)}</th>{cells}'
            f"<td>{majority}</td></tr>"
        )
    notes = [f"{row.requirement} {row.label}: {note}" for row in group.rows for note in row.notes]
    parts.append(
        f'<table class="cas-drift" data-group="{_e(group.name)}"><thead><tr><th>Property</th>{head}'
        f"<th>Most members have</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    if notes:
        parts.append("<ul>" + "".join(f'<li class="cas-drift-note">{_e(n)}</li>' for n in notes) + "</ul>")
    return "".join(parts)


def drift_html(records: Sequence[TestRecord]) -> str:
    """The drift section, or nothing when the run has no DRIFT tests."""
    groups = drift_groups(records)
    errors = unjudged(records)
    if not groups and not errors:
        return ""
    parts = [
        STYLE,
        '<div class="cas-section" id="cas-drift"><h2>Drift: peer groups &#215; members</h2>',
        legend(),
    ]
    parts.extend(group_html(g) for g in groups)
    if errors:
        items = "".join(
            f'<li class="cas-error">{_e(SYMBOLS["error"])} {_e(r.nodeid)}: {_e(r.message.splitlines()[0] if r.message else "error")}</li>'
            for r in errors
        )
        parts.append(f"<h3>Not compared</h3><ul>{items}</ul>")
    parts.append("</div>")
    return "".join(parts)

"""Columns cas-conformance adds to pytest-html's results table.

pytest-html inserts cells with ``innerHTML``: every value from a server, DNS or a certificate is
escaped here before it enters the report, its control characters shown as escapes (``\\x1b``). pytest-html 4.2 also puts the test id itself into its
cell unescaped; our ids are sanitized where they are built (``checks.subjects.safe_id``), and the
id cell is rebuilt escaped here as well, so no id can become markup whatever made it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from cas_conformance.domain.visible import visible, visible_lines

COLUMNS = ("requirement", "severity", "server", "object", "remediation")
SORTABLE = ("requirement", "severity", "server", "object")
_ID_CELL = '<td class="col-testId">'
# After pytest-html's Result and Test columns: the id stays in view, our columns follow it.
POSITION = 2


def _properties(report: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in getattr(report, "user_properties", [])}


def table_header(cells: list[str]) -> None:
    headers = []
    for column in COLUMNS:
        if column in SORTABLE:
            headers.append(f'<th class="sortable" data-column-type="{column}">{column.capitalize()}</th>')
        else:
            # Multi-line <pre> cells cannot feed pytest-html's sort data: not sortable.
            headers.append(f'<th class="col-{column}-head">{column.capitalize()}</th>')
    cells[POSITION:POSITION] = headers


def _test_id(report: Any) -> str:
    when = getattr(report, "when", "call")
    return str(report.nodeid) + (f"::{when}" if when != "call" else "")


def table_row(report: Any, cells: list[str]) -> None:
    for index, cell in enumerate(cells):
        if cell.startswith(_ID_CELL):
            cells[index] = f"{_ID_CELL}{escape(_test_id(report))}</td>"
    props = _properties(report)
    values = []
    for column in COLUMNS:
        # escaped as markup and as control characters (shown as escapes, never raw); the
        # remediation cell keeps its lines
        text = props.get(column, "")
        value = escape(visible_lines(text) if column == "remediation" else visible(text))
        if column == "remediation" and value:
            value = f'<pre class="remediation">{value}</pre>'
        values.append(f'<td class="col-{column}">{value}</td>')
    cells[POSITION:POSITION] = values

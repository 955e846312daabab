"""Columns cas-conformance adds to pytest-html's results table.

pytest-html inserts cells with ``innerHTML``: every value from a server, DNS or a certificate is
escaped here before it enters the report.
"""

from __future__ import annotations

from html import escape
from typing import Any

COLUMNS = ("requirement", "severity", "server", "object", "remediation")


def _properties(report: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in getattr(report, "user_properties", [])}


def table_header(cells: list[str]) -> None:
    cells[1:1] = [f'<th class="sortable" data-column-type="{c}">{c.capitalize()}</th>' for c in COLUMNS]


def table_row(report: Any, cells: list[str]) -> None:
    props = _properties(report)
    values = []
    for column in COLUMNS:
        value = escape(props.get(column, ""))
        if column == "remediation" and value:
            value = f'<pre class="remediation">{value}</pre>'
        values.append(f'<td class="col-{column}">{value}</td>')
    cells[1:1] = values

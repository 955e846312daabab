"""The outcome symbols, labels and legend every HTML view of the report shares (the matrix, the
drift view), so they look and read the same."""

from __future__ import annotations

from html import escape

from cas_conformance.report.records import WORST_FIRST

SYMBOLS = {"passed": "\u2713", "failed": "\u2717", "error": "\u26a0", "skipped": "\u2013", "waived": "W"}
LABELS = {"passed": "pass", "failed": "fail", "error": "error", "skipped": "skip", "waived": "waived"}


def legend() -> str:
    items = "".join(
        f'<span class="cas-{o}">{escape(SYMBOLS[o], quote=True)} {escape(LABELS[o], quote=True)}</span>'
        for o in WORST_FIRST
    )
    return f'<p class="cas-legend">{items}</p>'

"""Tests of a server that could not be collected, in the terminal: one line per server, not one
error block per test (their errors stay in JUnit, results.json, the HTML report and the counts)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from cas_conformance.domain.visible import visible
from cas_conformance.pytest_plugin.state import RunState
from cas_conformance.report.remediation_ps1 import UNREACHABLE_PROPERTY

COLLAPSER_NAME = "cas-conformance-unreachable-collapser"

__all__ = ["COLLAPSER_NAME", "UNREACHABLE_PROPERTY", "UnreachableCollapser", "mark_unreachable"]


def mark_unreachable(item: pytest.Item, report: Any, state: RunState) -> None:
    """Tag the error of a test whose server could not be collected with ``host: reason``: the
    terminal then says it once per server, JUnit and results.json keep the test's error. The
    reason comes from the server (its error text): its control characters are shown as escapes."""
    server = dict(item.user_properties).get("server")
    down = state.collection_failure(str(server)) if server else None
    if down is not None:
        prop = (UNREACHABLE_PROPERTY, visible(down))
        item.user_properties.append(prop)
        report.user_properties.append(prop)


def _unreachable(report: Any) -> bool:
    return any(pair[0] == UNREACHABLE_PROPERTY for pair in getattr(report, "user_properties", ()) or ())


class UnreachableCollapser:
    """The errors of tests on a server that could not be collected leave pytest's ERRORS section
    and short summary: one line per server in "cas-conformance servers" says why and how many.
    They are put back before the final counts; JUnit and results.json keep every one."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Generator[None, Any, Any]:
        errors = terminalreporter.stats.get("error")
        hidden = [r for r in errors if _unreachable(r)] if errors else []
        self.state.collapsed = hidden
        if errors and hidden:
            terminalreporter.stats["error"] = [r for r in errors if not _unreachable(r)]
        try:
            return (yield)
        finally:
            if errors and hidden:
                terminalreporter.stats["error"] = errors

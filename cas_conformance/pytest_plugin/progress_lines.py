"""The terminal lines of one gathering: which server is being collected, how many are done, how
long each took, the servers still pending, and each warning once."""

from __future__ import annotations

import threading
import time

import pytest

from cas_conformance.checks.base import some_names
from cas_conformance.domain.visible import visible


class ProgressLines:
    """Writes a gathering's progress to pytest's terminal; *total* is the number of servers
    collected over WinRM. Collector threads report too, hence the lock."""

    def __init__(self, config: pytest.Config, total: int) -> None:
        self.config = config
        self.total = total
        self._lock = threading.Lock()
        self._started = 0
        self._collecting: dict[str, float] = {}
        self._warned: dict[str, list[str]] = {}  # a warning's text after its server -> servers

    def write_line(self, line: str) -> None:
        """*line*, one line whatever its text holds: every control character shown as an escape."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        with self._lock:
            reporter.write_line(visible(line))

    def progress(self, event: str, subject: str, detail: str) -> None:
        """One line per event (gather's progress callback); the server's name and the event's text
        come from servers, so their control characters are shown as escapes."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        with self._lock:
            line = self._line(event, visible(subject), visible(detail))
            if reporter is not None and line is not None:
                reporter.write_line(line)

    def still_collecting(self, now: float) -> str | None:
        """The heartbeat's line: the servers not collected yet and for how long (None: none)."""
        with self._lock:
            pending = [(name, now - t) for name, t in self._collecting.items()]
        if not pending:
            return None
        names = some_names([f"{name} ({seconds:.0f} s)" for name, seconds in sorted(pending)])
        return f"cas-conformance: still collecting {names}"

    def _line(self, event: str, subject: str, detail: str) -> str | None:
        if event == "collect-start":
            self._collecting[subject] = time.monotonic()
            self._started += 1
            of = f"/{self.total}" if self.total else ""
            return f"cas-conformance: collecting {subject} ({self._started}{of} started) ..."
        if event == "collect-done":
            self._collecting.pop(subject, None)
            # gather reports "DONE/TOTAL SECONDSs STATUS"
            count, _, rest = detail.partition(" ")
            seconds, _, status = rest.partition(" ")
            if status.startswith("error"):
                status = "could not be collected (the reason is in the summary)"
            if "/" in count and seconds.endswith("s"):
                return f"cas-conformance: [{count}] collected {subject} in {seconds[:-1]} s: {status}"
            return f"cas-conformance: collected {subject}: {detail}"
        if event == "warning":
            return self._warning_line(subject, detail)
        if event == "exchange-done":
            if subject:
                return f"cas-conformance: Exchange facts read through Exchange remote PowerShell on {subject}"
            return f"cas-conformance: Exchange facts could not be read: {detail}"
        if event == "gathered":
            return "\n".join([*self._repeated_warnings(), f"cas-conformance: all facts gathered in {detail}"])
        return f"cas-conformance: {event.replace('-done', '')} done: {detail}"

    def _warning_line(self, server: str, text: str) -> str | None:
        """The first server's warning in full; the same warning of further servers is one line
        naming them all once gathering is over (2,000 servers speaking TLS 1.0 only are two lines,
        not 2,000)."""
        prefix = f"{server}: "
        if not server or not text.startswith(prefix):
            return f"cas-conformance: WARNING: {text}"
        servers = self._warned.setdefault(text[len(prefix) :].replace(server, "<server>"), [])
        servers.append(server)
        return f"cas-conformance: WARNING: {text}" if len(servers) == 1 else None

    def _repeated_warnings(self) -> list[str]:
        lines = []
        for text, servers in self._warned.items():
            if len(servers) > 1:
                more = servers[1:]
                lines.append(
                    f"cas-conformance: WARNING: the same on {len(more)} more server{'s' if len(more) > 1 else ''} "
                    f"({', '.join(more)}): {text}"
                )
        self._warned.clear()
        return lines

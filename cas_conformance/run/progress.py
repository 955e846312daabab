"""A line every few seconds while something slow runs: which servers are still being collected."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType


class Heartbeat:
    """Calls *line(now)* every *interval* seconds in a thread of its own, and writes what it
    returns (None: nothing to say) until the ``with`` block ends; *clock* is injectable for tests."""

    def __init__(
        self,
        interval: float,
        line: Callable[[float], str | None],
        write: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.line = line
        self.write = write
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            text = self.line(self.clock())
            if text is not None and not self._stop.is_set():
                self.write(text)

    def __enter__(self) -> Heartbeat:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, daemon=True, name="cas-conformance-heartbeat")
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

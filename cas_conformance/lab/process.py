"""Run the standalone lab (``python -m cas_conformance.lab serve``) in a child process, ready when
it says so: for scripts and tests that want the lab outside their own process."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from cas_conformance.errors import LabError

READY_LINE = "serving until"


class LabProcess:
    """``with LabProcess(scenario, inventory_out, ...) as lab:`` - the lab serves inside the block.
    *scenario* is a file or a scenario name; *launcher* the lab's command (another environment's
    ``cas-conformance lab``, say)."""

    def __init__(
        self,
        scenario: Path | str,
        inventory_out: Path,
        *,
        args: Sequence[str] = (),
        cwd: Path | None = None,
        start_timeout: float = 300.0,
        launcher: Sequence[str] = (sys.executable, "-m", "cas_conformance.lab"),
    ) -> None:
        self.command = [
            *launcher,
            "serve",
            str(scenario),
            "--inventory-out",
            str(inventory_out),
            *args,
        ]
        self.inventory = inventory_out
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LabProcess:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.cwd
        )
        ready: queue.Queue[bool] = queue.Queue()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)
                if line.startswith(READY_LINE):
                    ready.put(True)
            ready.put(False)

        threading.Thread(target=read, daemon=True, name="lab-process-output").start()
        try:
            started = ready.get(timeout=self.start_timeout)
        except queue.Empty:
            started = False
        if not started:
            self.stop()
            raise LabError("the standalone lab did not start:\n" + "".join(self.lines[-30:]))
        return self

    def stop(self) -> int:
        """SIGTERM, as an administrator's Ctrl-C would; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

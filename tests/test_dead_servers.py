"""Dead servers in the terminal: one line each for the cause (host, URL with scheme and port,
reason), their tests' errors kept in JUnit and results.json, and while a server is silent a line
every interval naming it."""

from __future__ import annotations

import re
import threading

import pytest

from cas_conformance.run.progress import Heartbeat
from tests.junit import junit_outcomes
from tests.report.suite_runs import HEALTHY, run_suite

DEAD = {
    "cas02.contoso.lab": ("winrm-refused@cas02", "connection refused"),
    "mbx01.contoso.lab": ("winrm-http-500@mbx01", "WinRM answered HTTP 500"),
    "ex01.contoso.lab": ("winrm-wrong-credentials@ex01", "authentication failed"),
}


def test_three_dead_servers_one_line_each(pytester: pytest.Pytester) -> None:
    faults = [arg for fault, _ in DEAD.values() for arg in ("--lab-fault", fault)]
    run = run_suite(pytester, *faults, inventory=HEALTHY)
    assert run.ret == 1, run.out
    lines = run.out.splitlines()
    assert not [line for line in lines if "ERROR at setup" in line or line.startswith("ERROR ")]
    assert "could not check" not in run.out
    for host, (_, reason) in DEAD.items():
        causes = [line for line in lines if reason in line]
        assert len(causes) == 1, (host, causes)
        assert re.fullmatch(
            rf"{re.escape(host)}: WinRM https://{re.escape(host)}:5986/wsman: {re.escape(reason)}.*; "
            r"[0-9]+ test\(s\) not checked, their errors in JUnit and results.json",
            causes[0],
        ), causes[0]
    # every test of a dead server is an error in JUnit and results.json, and counted in the last line
    errors = [t for t in run.results()["tests"] if t["outcome"] == "error"]
    assert {t["server"] for t in errors} == set(DEAD)
    junit = junit_outcomes(run.reports / "junit.xml")
    assert sum(1 for v in junit.values() if v == "error") == len(errors)
    assert f"{len(errors)} error" in lines[-1], lines[-1]
    assert len(lines) < 150, f"{len(lines)} lines"


def test_a_silent_server_is_named_while_it_is_collected(pytester: pytest.Pytester) -> None:
    inventory = pytester.path / "slow.ini"
    # winrm_timeout 4 s: time for the other servers to finish first, also on a loaded machine
    inventory.write_text(
        HEALTHY.read_text().replace(
            "lab_scenario = fixtures/lab/healthy.toml",
            f"lab_scenario = {HEALTHY.parent / 'fixtures/lab/healthy.toml'}\nwinrm_timeout = 4",
        )
    )
    run = run_suite(
        pytester, "--lab-fault", "winrm-blackhole@cas02", "--progress-interval", "0.1", inventory=inventory
    )
    assert run.ret == 1
    still = [line for line in run.out.splitlines() if "still collecting" in line]
    # from the beat that first names the silent server on, every beat names it (the others may
    # not have started or finished at the first beats); once the others are done, it alone
    first = next((i for i, line in enumerate(still) if "cas02.contoso.lab (" in line), None)
    assert first is not None, still
    assert all("cas02.contoso.lab (" in line for line in still[first:]), still
    assert any(re.search(r"still collecting cas02\.contoso\.lab \([0-9]+ s\)$", line) for line in still), (
        still
    )


def test_heartbeat_names_what_is_pending_at_each_interval() -> None:
    """With an injected clock: each beat asks for the line at that moment and writes it."""
    ticks = iter([10.0, 15.0, 20.0])
    written: list[str] = []
    enough = threading.Event()

    def line(now: float) -> str | None:
        return None if now == 15.0 else f"pending at {now:g}"

    def write(text: str) -> None:
        written.append(text)
        if len(written) == 2:
            enough.set()

    with Heartbeat(0.001, line, write, clock=lambda: next(ticks, 99.0)):
        assert enough.wait(10)
    assert written[:2] == ["pending at 10", "pending at 20"]


def test_heartbeat_off_with_no_interval() -> None:
    with Heartbeat(0, lambda now: "never", lambda text: pytest.fail(text)) as beat:
        assert beat._thread is None

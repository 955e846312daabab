"""--save-facts, then --replay-facts with the lab stopped: the same outcome for every node id."""

from __future__ import annotations

import gc
import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cas_conformance.inventory import parse_inventory
from tests.report.suite_runs import ROOT as ROOT_DIR
from tests.report.suite_runs import run_suite


def _lab_dns(facts: dict[str, object]) -> tuple[str, int]:
    inventory = parse_inventory(str(facts["inventory"]), "facts")
    host, _, port = inventory.all_vars["dns_servers"].split(",")[0].strip().rpartition(":")
    return host, int(port)


def test_replay_gives_identical_outcomes_without_the_lab(pytester: pytest.Pytester) -> None:
    facts_path = pytester.path / "evidence" / "facts.json"
    live = run_suite(pytester, f"--save-facts={facts_path}", name="live")
    assert live.ret == 1
    facts = json.loads(facts_path.read_text())
    assert facts["schema"] == "cas-conformance/facts/3"
    assert sorted(facts["evidence"]) == ["dns", "exchange", "http", "os", "revocation", "smtp", "tls"]

    # The embedded lab stopped with the first run: its DNS server (UDP and TCP) is gone.
    host, port = _lab_dns(facts)
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=2):
        pass

    replay = run_suite(pytester, f"--replay-facts={facts_path}", inventory=None, name="replay")
    assert replay.ret == 1
    assert "collecting" not in replay.out  # nothing was contacted
    live_outcomes, replay_outcomes = live.outcomes(), replay.outcomes()
    assert replay_outcomes == live_outcomes
    assert {"passed", "failed", "skipped"} <= set(live_outcomes.values())
    assert replay.junit_outcomes() == live.junit_outcomes()
    # The replayed run names its evidence in the metadata.
    run = replay.results()["run"]
    assert run["inventory"] is None and run["replay_facts"] == str(facts_path)
    assert run["replay_facts_sha256"] == hashlib.sha256(facts_path.read_bytes()).hexdigest()
    # Same remediation for the same failures.
    live_script, replay_script = live.remediation(), replay.remediation()
    assert replay_script[replay_script.index("# =====") :] == live_script[live_script.index("# =====") :]


EXIT_PROBE = """
import atexit, gc, sys, pytest
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_a_run_freezes_its_objects_at_exit(pytester: pytest.Pytester) -> None:
    """The suite's objects are frozen before CPython's final collection walks them (a large
    run's exit took ~0.6 s longer without it); the atexit hook runs before an earlier one."""
    facts_path = pytester.path / "facts.json"
    run_suite(pytester, f"--save-facts={facts_path}", "--co", name="facts")
    args = [sys.executable, "-c", EXIT_PROBE, "-q", "--co", "-p", "no:cacheprovider"]
    args += [f"--replay-facts={facts_path}", f"--reports-dir={pytester.path / 'exit'}"]
    result = subprocess.run(
        [*args, "tests_cas"], capture_output=True, text=True, timeout=120, cwd=ROOT_DIR, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.strip().endswith("frozen at exit: True"), result.stdout[-500:]


def test_an_in_process_run_leaves_nothing_frozen(pytester: pytest.Pytester) -> None:
    """The run moves its long-lived objects out of the collector's way while it runs, and gives
    them back at the end, so a program that runs the suite in-process keeps collecting them."""
    facts_path = pytester.path / "facts.json"
    run_suite(pytester, f"--save-facts={facts_path}", "--co", name="facts")
    assert gc.get_freeze_count() == 0
    replay = run_suite(pytester, f"--replay-facts={facts_path}", inventory=None, name="replay")
    assert replay.outcomes() and gc.get_freeze_count() == 0


def test_a_facts_file_of_the_snap_in_collector_is_refused_clearly(tmp_path: Path) -> None:
    from cas_conformance.run.facts_file import FactsFileError, load_world

    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema": "cas-conformance/facts/1", "inventory": "", "servers": {}}))
    with pytest.raises(
        FactsFileError, match=r"old\.json: .*facts/1 is an old format .*gather the facts again"
    ):
        load_world(old)


def test_a_facts_file_of_format_2_is_refused_clearly(tmp_path: Path) -> None:
    """Format 2 kept every kind of evidence at the top level, in one shape: refused, saying why."""
    from cas_conformance.run.facts_file import FactsFileError, load_world

    old = tmp_path / "v2.json"
    old.write_text(
        json.dumps({"schema": "cas-conformance/facts/2", "inventory": "", "servers": {}, "dns": []})
    )
    with pytest.raises(FactsFileError, match=r"v2\.json: .*facts/2 is an old format .*each kind of evidence"):
        load_world(old)

"""--save-facts, then --replay-facts with the lab stopped: the same outcome for every node id; and
the facts files stored under tests/fixtures/facts/ (saved by earlier versions) replay to their
stored outcomes, at any date."""

from __future__ import annotations

import gc
import hashlib
import json
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cas_conformance.inventory import parse_inventory
from tests.report.suite_runs import ROOT as ROOT_DIR
from tests.report.suite_runs import run_suite

STORED = ROOT_DIR / "tests" / "fixtures" / "facts"
#: one run of the suite with the clock moved by argv[1] days: date.today() and datetime.now() (and
#: utcnow, today) answer that day; a real date or datetime is still an instance of the replacements
SHIFTED_CLOCK = """
import datetime as _dt, sys
_DATE, _DATETIME = _dt.date, _dt.datetime
_SHIFT = _dt.timedelta(days=int(sys.argv.pop(1)))
class _DateMeta(type):
    def __instancecheck__(cls, obj): return isinstance(obj, _DATE)
    def __subclasscheck__(cls, sub): return issubclass(sub, _DATE)
class _DatetimeMeta(_DateMeta):
    def __instancecheck__(cls, obj): return isinstance(obj, _DATETIME)
    def __subclasscheck__(cls, sub): return issubclass(sub, _DATETIME)
class _Date(_DATE, metaclass=_DateMeta):
    @classmethod
    def today(cls): return _DATE.today() + _SHIFT
class _Datetime(_DATETIME, metaclass=_DatetimeMeta):
    @classmethod
    def now(cls, tz=None): return _DATETIME.now(tz) + _SHIFT
    @classmethod
    def utcnow(cls): return _DATETIME.utcnow() + _SHIFT
    @classmethod
    def today(cls): return _DATETIME.today() + _SHIFT
_dt.date, _dt.datetime = _Date, _Datetime
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


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


def _stored() -> list[Path]:
    return sorted(STORED.glob("*/*.json"), key=str)


@pytest.mark.parametrize("days", [0, 30 * 365], ids=["today", "in-30-years"])
@pytest.mark.parametrize(
    "facts",
    [p for p in _stored() if not p.name.endswith(".outcomes.json")],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_a_stored_facts_file_replays_to_its_stored_outcomes(tmp_path: Path, facts: Path, days: int) -> None:
    """A facts file saved by an earlier version (tests/fixtures/facts/<schema>/) still replays, and
    every test id's outcome is the one stored beside it. The replay judges certificates and chains
    at the time the facts were gathered (the file's ``now``), never at today's date: 30 years on,
    when every certificate of the lab that gathered it has expired, the outcomes are the same."""
    expected = json.loads(facts.with_suffix(".outcomes.json").read_text(encoding="utf-8"))
    reports = tmp_path / "reports"
    args = [sys.executable, "-c", SHIFTED_CLOCK, str(days), "-q", "-p", "no:cacheprovider"]
    args += ["-p", "no:randomly", f"--replay-facts={facts}", f"--reports-dir={reports}", "tests_cas"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT_DIR, check=False)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    outcomes = {t["nodeid"]: t["outcome"] for t in results["tests"]}
    changed = {k: (expected.get(k), outcomes.get(k)) for k in expected.keys() | outcomes.keys()}
    assert {k: v for k, v in changed.items() if v[0] != v[1]} == {}
    assert results["run"]["exit_status"] == (0 if set(expected.values()) <= {"passed", "skipped"} else 1)
    # the clock really was moved: the report's own times are that day's
    moved = datetime.now(timezone.utc) + timedelta(days=days)
    assert results["run"]["finish_time"][:4] == str(moved.year)


def test_every_stored_facts_file_has_its_outcomes_and_its_readme() -> None:
    stored = _stored()
    files = [p for p in stored if not p.name.endswith(".outcomes.json")]
    assert files, f"no stored facts file under {STORED}"
    assert {p.with_suffix(".outcomes.json") for p in files} == set(stored) - set(files)
    assert (STORED / "README.md").is_file()
    for path in files:
        assert json.loads(path.read_text(encoding="utf-8"))["schema"].endswith(f"/{path.parent.name}")

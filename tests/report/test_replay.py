"""--save-facts, then --replay-facts with the lab stopped: the same outcome for every node id; and
the facts files stored under tests/fixtures/facts/<N>/ (saved by earlier versions of schema
``cas-conformance/facts/N``): those of a schema this version reads replay to their stored outcomes,
at any date (every test id the stored outcomes name, with its outcome; a test id added since is not
pinned, one gone fails); those of a schema it refuses (``OLD_SCHEMAS``) are refused in one line
naming both schemas. The folders are found, not listed: a new schema needs its files, no test edit."""

from __future__ import annotations

import gc
import hashlib
import json
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cas_conformance.inventory import parse_inventory
from cas_conformance.run import facts_file
from cas_conformance.run.facts_file import (
    GATHER_AGAIN,
    SCHEMA,
    FactsFileError,
    evidence_from_dict,
    load_world,
)
from tests.report.suite_runs import ROOT as ROOT_DIR
from tests.report.suite_runs import run_suite

STORED = ROOT_DIR / "tests" / "fixtures" / "facts"


def stored(root: Path = STORED) -> dict[str, list[Path]]:
    """The stored facts files of each folder of *root*, by the schema its name says (3/ holds
    cas-conformance/facts/3); read as the code says at the time (a test may change ``SCHEMA``)."""
    family = facts_file.SCHEMA.rsplit("/", 1)[0]
    folders = sorted((f for f in root.iterdir() if f.is_dir()), key=lambda f: (len(f.name), f.name))
    return {
        f"{family}/{f.name}": sorted(p for p in f.glob("*.json") if not p.name.endswith(".outcomes.json"))
        for f in folders
    }


def current(root: Path = STORED) -> list[Path]:
    """The stored files of the schema this version writes."""
    return stored(root).get(facts_file.SCHEMA, [])


def replayed(root: Path = STORED) -> list[Path]:
    """The stored files this version reads, each replayed to its stored outcomes: every folder's
    but those of a schema it refuses."""
    return [
        p for schema, files in stored(root).items() if schema not in facts_file.OLD_SCHEMAS for p in files
    ]


def refused(root: Path = STORED) -> list[tuple[Path, str]]:
    """The stored files of a schema this version refuses (``OLD_SCHEMAS``), with that schema."""
    return [
        (p, schema)
        for schema, files in stored(root).items()
        if schema in facts_file.OLD_SCHEMAS
        for p in files
    ]


def assert_refused(message: str, source: str, named: str, schema: str | None = SCHEMA) -> None:
    """The one clear line: where, both schemas, what to do, and what it is about."""
    assert "\n" not in message, message
    assert message.startswith(f"{source}: cannot replay: "), message
    theirs = f"the file's schema is {schema}" if schema else "the file names no schema"
    assert f"({theirs}, this version's {facts_file.SCHEMA}); " in message, message
    assert message.endswith(GATHER_AGAIN), message
    assert named in message, message


def unpinned(expected: dict[str, str], outcomes: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """The stored outcomes a replay did not give: each test id the stored outcomes name, with that
    outcome and the replay's (None: the test id is gone; renamed or removed, a change to review).
    A test id they do not name (a requirement added since) is not pinned by them."""
    return {k: (v, outcomes.get(k)) for k, v in expected.items() if outcomes.get(k) != v}


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
    assert facts["schema"] == SCHEMA
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


@pytest.mark.parametrize("schema", sorted(facts_file.OLD_SCHEMAS))
def test_a_facts_file_of_an_old_schema_is_refused_with_the_reason_that_schema_ended(
    tmp_path: Path, schema: str
) -> None:
    """facts/1 was read through the snap-in collector; facts/2 kept every kind of evidence at the
    top level, in one shape."""
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema": schema, "inventory": "", "servers": {}, "dns": []}))
    with pytest.raises(FactsFileError) as refusal:
        load_world(old)
    assert_refused(str(refusal.value), str(old), f"no longer reads: {facts_file.OLD_SCHEMAS[schema]}", schema)


@pytest.mark.parametrize("days", [0, 30 * 365], ids=["today", "in-30-years"])
@pytest.mark.parametrize("facts", replayed(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_stored_facts_file_replays_to_its_stored_outcomes(tmp_path: Path, facts: Path, days: int) -> None:
    """A facts file saved by an earlier version (tests/fixtures/facts/<schema>/) still replays, and
    every test id the outcomes stored beside it name has that outcome (``unpinned``). The replay
    judges certificates and chains at the time the facts were gathered (the file's ``now``), never
    at today's date: 30 years on, when every certificate of the lab that gathered it has expired,
    the outcomes are the same."""
    expected = json.loads(facts.with_suffix(".outcomes.json").read_text(encoding="utf-8"))
    reports = tmp_path / "reports"
    args = [sys.executable, "-c", SHIFTED_CLOCK, str(days), "-q", "-p", "no:cacheprovider"]
    args += ["-p", "no:randomly", f"--replay-facts={facts}", f"--reports-dir={reports}", "tests_cas"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT_DIR, check=False)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    outcomes = {t["nodeid"]: t["outcome"] for t in results["tests"]}
    assert unpinned(expected, outcomes) == {}
    assert results["run"]["exit_status"] == (0 if set(outcomes.values()) <= {"passed", "skipped"} else 1)
    # the clock really was moved: the report's own times are that day's
    moved = datetime.now(timezone.utc) + timedelta(days=days)
    assert results["run"]["finish_time"][:4] == str(moved.year)


def _check_stored(root: Path) -> None:
    """Every stored file beside its outcomes, in the folder its schema names, and files of the schema
    this version writes; every file of a schema it refuses is refused in the one line."""
    files = [p for folder in stored(root).values() for p in folder]
    assert current(root), f"no stored facts file of {facts_file.SCHEMA} under {root}"
    assert {p.with_suffix(".outcomes.json") for p in files} == set(root.glob("*/*.outcomes.json"))
    for schema, folder in stored(root).items():
        assert all(json.loads(p.read_text(encoding="utf-8"))["schema"] == schema for p in folder)
    for path, schema in refused(root):
        with pytest.raises(FactsFileError) as refusal:
            load_world(path)
        assert_refused(str(refusal.value), str(path), facts_file.OLD_SCHEMAS[schema], schema)


def test_every_stored_facts_file_is_beside_its_outcomes_and_replayed_or_refused() -> None:
    _check_stored(STORED)
    assert (STORED / "README.md").is_file()
    assert set(replayed()) | {p for p, _ in refused()} == {p for f in stored().values() for p in f}


def test_a_new_schema_needs_its_stored_files_only_and_the_old_ones_become_fixtures_of_the_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The procedure for a required field (or a changed one), simulated in a copy of the stored
    files: ``SCHEMA`` becomes N+1, N goes into ``OLD_SCHEMAS`` with its reason, and files the new
    version saved go into N+1/ beside their outcomes. No test changes: N+1 is what the tests
    replay and remove fields from; every file of N is refused in one line naming both schemas."""
    family, number = SCHEMA.rsplit("/", 1)
    new, today, refused_before = f"{family}/{int(number) + 1}", current(), refused()
    old_folder, new_folder = tmp_path / number, tmp_path / str(int(number) + 1)
    shutil.copytree(STORED, tmp_path, dirs_exist_ok=True)
    reason = "it was saved before HasPrivateKey was asked for"
    monkeypatch.setattr(facts_file, "OLD_SCHEMAS", {**facts_file.OLD_SCHEMAS, SCHEMA: reason})
    monkeypatch.setattr(facts_file, "SCHEMA", new)
    with pytest.raises(AssertionError, match=f"no stored facts file of {new}"):
        _check_stored(tmp_path)  # the new version's files are not saved yet
    new_folder.mkdir()
    for path in today:  # what the new version would save (here: the same facts, its schema)
        data = json.loads(path.read_text(encoding="utf-8"))
        (new_folder / path.name).write_text(json.dumps({**data, "schema": new}), encoding="utf-8")
        shutil.copy(path.with_suffix(".outcomes.json"), new_folder)

    assert current(tmp_path) == replayed(tmp_path) == [new_folder / p.name for p in today]
    assert set(refused(tmp_path)) == {(tmp_path / p.relative_to(STORED), s) for p, s in refused_before} | {
        (old_folder / p.name, SCHEMA) for p in today
    }
    _check_stored(tmp_path)  # the old files refused, naming the file's schema and the new one
    assert all(evidence_from_dict(json.loads(p.read_text())).exchange for p in replayed(tmp_path))


def test_a_replay_pins_every_stored_test_id_and_none_added_since() -> None:
    """A requirement added since brings test ids the stored outcomes lack: not pinned, no failure.
    A test id gone, renamed or with another outcome: a failure, to review."""
    added = "tests_cas/test_new_requirement.py::test_a_requirement_added_since[cas01.contoso.lab]"
    for path in replayed():
        expected = json.loads(path.with_suffix(".outcomes.json").read_text(encoding="utf-8"))
        first = min(expected)
        other = "passed" if expected[first] != "passed" else "failed"
        assert unpinned(expected, {**expected, added: "failed"}) == {}
        assert unpinned(expected, {k: v for k, v in expected.items() if k != first}) == {
            first: (expected[first], None)
        }
        assert unpinned(expected, {**expected, first: other}) == {first: (expected[first], other)}
        renamed = {(f"{k}-renamed" if k == first else k): v for k, v in expected.items()}
        assert set(unpinned(expected, renamed)) == {first}

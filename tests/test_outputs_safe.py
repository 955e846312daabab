"""Every file a run writes replaces a symbolic link at its path instead of following it, and the
files that hold evidence (the --save-facts file, results.json) are readable by the user only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cas_conformance.run.output_file import write_output
from tests.report.suite_runs import HEALTHY, run_suite

VICTIM = "the target of a link, to be left alone\n"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _plant(link: Path, victims: Path) -> Path:
    """A symbolic link at *link* to a new victim file; returns the victim."""
    victims.mkdir(exist_ok=True)
    victim = victims / link.name
    victim.write_text(VICTIM)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)
    return victim


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_write_output_replaces_a_link_and_keeps_evidence_private(tmp_path: Path) -> None:
    victim = _plant(tmp_path / "out" / "results.json", tmp_path / "victims")
    write_output(tmp_path / "out" / "results.json", b"{}\n", private=True)
    assert victim.read_text() == VICTIM
    out = tmp_path / "out" / "results.json"
    assert not out.is_symlink() and out.read_bytes() == b"{}\n" and _mode(out) == 0o600
    write_output(tmp_path / "out" / "remediation.ps1", b"x")
    assert _mode(tmp_path / "out" / "remediation.ps1") == 0o644  # as open() creates it
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["remediation.ps1", "results.json"]


@pytest.mark.usefixtures("umask_022")
def test_a_run_follows_no_link_at_its_outputs(pytester: pytest.Pytester) -> None:
    reports = pytester.path / "reports"
    facts = pytester.path / "saved" / "facts.json"
    victims = {
        path: _plant(path, pytester.path / "victims")
        for path in (
            reports / "results.json",
            reports / "remediation.ps1",
            reports / "junit.xml",
            reports / "report.html",
            facts,
        )
    }
    run = run_suite(pytester, "--limit", "cas01*", "--save-facts", str(facts), inventory=HEALTHY)
    assert run.ret == 0, run.out
    for path, victim in victims.items():
        assert victim.read_text() == VICTIM, path.name
        assert path.is_file() and not path.is_symlink(), path.name
        assert path.stat().st_size > 0, path.name
    assert _mode(facts) == 0o600
    assert _mode(reports / "results.json") == 0o600

"""A known password appears in no terminal output, report, saved facts or log: after a passing
run, a failing run and a wrong-password run."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_conformance.lab import Lab, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SUITE = str(ROOT / "tests_cas")
KNOWN = "Kn0wn-Secret-4711"


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, inventory: Path) -> pytest.RunResult:
    monkeypatch.setenv("CAS_CONFORMANCE_PASSWORD", KNOWN)
    monkeypatch.setenv("CAS_CONFORMANCE_PROBE_USER", "labprobe@contoso.lab")
    monkeypatch.setenv("CAS_CONFORMANCE_PROBE_PASSWORD", KNOWN)
    return pytester.runpytest_subprocess(
        "--inventory",
        str(inventory),
        SUITE,
        "-p",
        "no:cacheprovider",
        "-rA",
        "-v",
        "--log-level=DEBUG",
        "--html=reports/report.html",
        "--junitxml=reports/junit.xml",
        "--save-facts=reports/facts.json",
    )


def _assert_nowhere(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert KNOWN not in text
    files = [p for p in pytester.path.rglob("*") if p.is_file()]
    assert any(p.name == "facts.json" for p in files)
    for path in files:
        assert KNOWN.encode() not in path.read_bytes(), path


def test_passing_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(pytester, monkeypatch, ROOT / "inventory.ini")
    assert result.ret == 0
    _assert_nowhere(pytester, result)


def test_failing_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(pytester, monkeypatch, ROOT / "fixtures" / "lab" / "broken.ini")
    assert result.ret == 1
    _assert_nowhere(pytester, result)


def test_wrong_password_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    with Lab(load_scenario(ROOT / "fixtures" / "lab" / "healthy.toml"), password="Another-Pw-1") as lab:
        inventory = pytester.path / "lab.ini"
        inventory.write_text(lab.inventory_text())
        result = _run(pytester, monkeypatch, inventory)
    assert result.ret == 1
    assert "authentication failed" in result.stdout.str()
    _assert_nowhere(pytester, result)

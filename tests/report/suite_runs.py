"""Run the conformance suite as a user does (pytester, embedded lab) and read what it wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.junit import junit_outcomes

ROOT = Path(__file__).resolve().parents[2]
SUITE = str(ROOT / "tests_cas")
HEALTHY = ROOT / "inventory.ini"
BROKEN = ROOT / "fixtures" / "lab" / "broken.ini"
LAB_PASSWORD = "Lab-Passw0rd!"


@dataclass
class SuiteRun:
    result: pytest.RunResult
    reports: Path

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def out(self) -> str:
        return self.result.stdout.str()

    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.reports / "results.json").read_text(encoding="utf-8"))
        return data

    def outcomes(self) -> dict[str, str]:
        return {t["nodeid"]: t["outcome"] for t in self.results()["tests"]}

    def test(self, fragment: str) -> dict[str, Any]:
        found = [t for t in self.results()["tests"] if fragment in t["nodeid"]]
        assert len(found) == 1, (fragment, [t["nodeid"] for t in found])
        return found[0]

    def html(self) -> str:
        return (self.reports / "report.html").read_text(encoding="utf-8")

    def remediation(self) -> str:
        raw = (self.reports / "remediation.ps1").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), "Windows PowerShell 5.1 needs the BOM to read UTF-8"
        assert b"\n" not in raw.replace(b"\r\n", b""), "CRLF line ends only"
        return raw.decode("utf-8-sig").replace("\r\n", "\n")

    def junit_outcomes(self) -> dict[str, str]:
        """JUnit's outcome per test, keyed by node id (JUnit names the module with dots)."""
        outcomes = {}
        for key, state in junit_outcomes(self.reports / "junit.xml").items():
            classname, _, name = key.partition("::")
            outcomes[f"{classname.replace('.', '/')}.py::{name}"] = state
        return outcomes


def run_suite(
    pytester: pytest.Pytester,
    *args: str,
    inventory: Path | None = BROKEN,
    name: str = "reports",
    subprocess: bool = False,
) -> SuiteRun:
    """One run of the suite; its reports (HTML, JUnit, results.json, remediation.ps1) in *name*/."""
    reports = pytester.path / name
    argv = [
        *(["--inventory", str(inventory)] if inventory is not None else []),
        SUITE,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        f"--junitxml={reports / 'junit.xml'}",
        f"--html={reports / 'report.html'}",
        "--self-contained-html",
        *args,
    ]
    runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    return SuiteRun(runner(*argv), reports)


def run_hostile_strings(pytester: pytest.Pytester) -> SuiteRun:
    """The healthy lab with hostile strings in its data and one OUT-01 failure.

    Markup and script stand in names, identities and certificate subjects, and the failure makes a
    remediation quote a hostile database name: everything every report must show as text.
    """
    return run_suite(
        pytester,
        "--lab-fault",
        "hostile-strings",
        "--lab-fault",
        "rpc-cas-is-mailbox-only",
        inventory=HEALTHY,
    )

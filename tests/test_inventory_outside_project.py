"""``pytest --inventory /elsewhere/prod.ini`` from the project directory runs the suite, and only it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_inventory_outside_the_project_still_runs_only_the_suite(tmp_path: Path) -> None:
    """``pytest --inventory /elsewhere/prod.ini`` from the project: pytest decides its rootdir before
    it knows --inventory, takes the value for a test path and misses the project's testpaths."""
    inventory = tmp_path / "prod.ini"
    inventory.write_text(
        (ROOT / "inventory.ini")
        .read_text()
        .replace(
            "lab_scenario = fixtures/lab/healthy.toml", f"lab_scenario = {ROOT / 'fixtures/lab/healthy.toml'}"
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--inventory",
            str(inventory),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--reports-dir={tmp_path / 'reports'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    suite_modules = {p.name for p in (ROOT / "tests_cas").glob("test_*.py")}
    modules = {line.split("::", 1)[0].rsplit("/", 1)[-1] for line in collected}
    assert collected and modules <= suite_modules, sorted(modules - suite_modules)[:5]
    assert not any(line.startswith("tests/") for line in collected)

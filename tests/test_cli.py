"""``cas-conformance`` (= ``python -m cas_conformance``): the suite rooted at the suite, ``lab ...``
and ``inventory ...`` dispatched."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

from cas_conformance import cli
from cas_conformance.locations import suite_home

ROOT = Path(__file__).resolve().parents[1]


def test_the_suite_runs_rooted_at_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def main(args: list[str]) -> int:
        seen.append(list(args))
        return 0

    monkeypatch.setattr(pytest, "main", main)
    assert cli.main(["--inventory", "prod.ini", "-k", "OWA"]) == 0
    home = suite_home()
    assert home is not None and home.root == ROOT and home.checkout
    assert seen == [
        [
            f"--rootdir={ROOT}",
            f"--config-file={ROOT / 'pyproject.toml'}",
            "--inventory",
            "prod.ini",
            "-k",
            "OWA",
        ]
    ]


def test_lab_is_the_lab_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lab", "faults"]) == 0
    assert "must fail" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["lab", "serve", "--help"])
    assert "cas-conformance lab serve" in capsys.readouterr().out


def test_inventory_goes_to_the_inventory_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def main(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    module = types.ModuleType(cli.INVENTORY_MODULE)
    module.main = main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, cli.INVENTORY_MODULE, module)
    assert cli.main(["inventory", "--list", "--inventory", "x.ini"]) == 7
    assert seen == [["--list", "--inventory", "x.ini"]]


def test_inventory_without_its_module_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.import_module

    def missing(name: str) -> types.ModuleType:
        if name == cli.INVENTORY_MODULE:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name)

    monkeypatch.setattr(importlib, "import_module", missing)
    assert cli.main(["inventory", "--list"]) == 2
    assert "cas-conformance inventory: not available" in capsys.readouterr().err


def test_python_m_cas_conformance_is_the_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cas_conformance", "lab", "serve", "healty"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown lab scenario 'healty'" in result.stderr and "Traceback" not in result.stderr


def test_help_names_the_commands_then_pytests_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cas-conformance [--inventory PATH]")
    assert "cas-conformance lab serve|faults" in out and "--replay-facts" in out

"""The wheel brings its suite: built, installed into a fresh venv outside the checkout and run from
another directory against the built-in lab by scenario name, it gives the same outcome per test id
as ``make check`` gives from the checkout. Installed alone (``pip install cas-conformance``, without
the ``lab`` extra) it runs against servers it does not start and refuses a lab, saying how to get
one. Select with ``-m wheel`` (or leave out with ``-m 'not wheel'``): it builds a wheel and a venv
(about a minute)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from cas_conformance.lab import LabProcess

ROOT = Path(__file__).resolve().parents[1]
HOSTS = ["cas01.contoso.lab", "cas02.contoso.lab", "mbx01.contoso.lab", "ex01.contoso.lab"]
# The source tree a wheel is built from; the rest (.git, .venv, reports, caches) stays behind.
SOURCE = [
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "cas_conformance",
    "tests_cas",
    "fixtures",
]

PASSWORD = "Wheel-Test-Pw1"
ACCOUNT = {
    "CAS_CONFORMANCE_PASSWORD": PASSWORD,
    "CAS_CONFORMANCE_PROBE_USER": "labprobe@contoso.lab",
    "CAS_CONFORMANCE_PROBE_PASSWORD": PASSWORD,
}

pytestmark = pytest.mark.wheel  # -m wheel selects it, -m 'not wheel' leaves it out
#: The checkout's own lab (the installed package serves its own in the tests that say so).
CHECKOUT_LAB = (sys.executable, "-m", "cas_conformance.lab")


def _run(
    command: Sequence[str | Path], cwd: Path, *, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # Nothing of this process's Python or pytest set-up reaches the installed one.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHON", "VIRTUAL_ENV"))}
    env.update(extra or {})
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _ok(result: subprocess.CompletedProcess[str], *codes: int) -> str:
    assert result.returncode in (codes or (0,)), result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


def _outcomes(results: Path) -> dict[str, str]:
    return {t["nodeid"]: t["outcome"] for t in json.loads(results.read_text(encoding="utf-8"))["tests"]}


def _venv(base: Path) -> tuple[Path, Path]:
    """A fresh venv (no system site-packages) with the wheel built from a copy of the sources, not
    its extras; and the wheel."""
    source = base / "source"
    source.mkdir(parents=True)
    for name in SOURCE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(ROOT / name, source / name)
    wheels = base / "wheels"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, source], base))
    (wheel,) = wheels.glob("cas_conformance-*.whl")
    env = base / "venv"
    _ok(_run([sys.executable, "-m", "venv", env], base))
    _ok(
        _run(
            [env / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel], base
        )
    )
    return env, wheel


def _checkout_run(reports: Path) -> dict[str, str]:
    """``make check``'s run (``pytest --inventory inventory.ini`` in the checkout), its reports aside."""
    _ok(
        _run(
            [sys.executable, "-m", "pytest", "--inventory", "inventory.ini", f"--reports-dir={reports}"], ROOT
        )
    )
    return _outcomes(reports / "results.json")


def _inventory(path: Path, scenario: str) -> Path:
    path.write_text("\n".join([*HOSTS, "", "[all:vars]", f"lab_scenario = {scenario}", ""]), encoding="utf-8")
    return path


def _checkout_broken_run(reports: Path) -> dict[str, str]:
    """The checkout's broken lab (``fixtures/lab/broken.ini``): some tests fail."""
    _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--inventory",
            "fixtures/lab/broken.ini",
            f"--reports-dir={reports}",
        ],
        ROOT,
    )
    outcomes = _outcomes(reports / "results.json")
    assert "failed" in outcomes.values()
    return outcomes


def test_the_wheel_brings_its_suite(tmp_path: Path) -> None:
    """One test, so that a parallel run builds one venv: the wheel without the lab extra; then, the
    extra installed, the installed pytest, the console script and ``python -m cas_conformance`` from
    other directories, then the installed lab by name."""
    venv, wheel = _venv(tmp_path / "install")
    checkout_run = _checkout_run(tmp_path / "check")
    broken = _checkout_broken_run(tmp_path / "check-broken")
    for phase in "0abc":
        (tmp_path / phase).mkdir()
    _without_the_lab_extra(venv, broken, tmp_path / "0")
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _ok(_run([*pip, f"{wheel}[lab]"], tmp_path))
    _installed_pytest(venv, checkout_run, tmp_path / "a")
    _console_script(venv, checkout_run, tmp_path / "b")
    _installed_lab_by_name(venv, broken, tmp_path / "c")


def _without_the_lab_extra(venv: Path, expected: dict[str, str], tmp_path: Path) -> None:
    """``pip install cas-conformance`` alone: no psrpcore; the lab's command and an inventory with
    ``lab_scenario`` are usage errors naming the extra; the suite runs against servers it does not
    start (this checkout's standalone broken lab) with the checkout's outcomes."""
    found = _ok(
        _run(
            [
                venv / "bin" / "python",
                "-c",
                "import importlib.util, cas_conformance.pytest_plugin.plugin, cas_conformance.cli; "
                "print(importlib.util.find_spec('psrpcore'))",
            ],
            tmp_path,
        )
    )
    assert found.strip() == "None"
    lab_scenario = _inventory(tmp_path / "prod.ini", "healthy")
    for command, said in [
        (["lab", "faults"], "cas-conformance lab: the built-in lab needs the lab extra"),
        (["--inventory", lab_scenario], ":7: lab_scenario: the built-in lab needs the lab extra"),
    ]:
        refused = _run([venv / "bin" / "cas-conformance", *command], tmp_path)
        assert refused.returncode == 4, refused.stdout[-4000:] + refused.stderr[-4000:]
        assert said in refused.stderr and "pip install 'cas-conformance[lab]'" in refused.stderr, (
            refused.stderr
        )
        assert "Traceback" not in refused.stdout + refused.stderr
    _suite_against_served_broken_lab(venv, expected, tmp_path, CHECKOUT_LAB)


def _suite_against_served_broken_lab(
    venv: Path, expected: dict[str, str], tmp_path: Path, launcher: Sequence[str]
) -> None:
    """The installed console script against a standalone broken lab (*launcher*: the command that
    serves it) has the outcomes *expected* of the checkout's broken lab."""
    served = tmp_path / "served.ini"
    with LabProcess("broken", served, args=["--password", PASSWORD], cwd=tmp_path, launcher=launcher):
        command: list[str | Path] = [
            venv / "bin" / "cas-conformance",
            "--inventory",
            served,
            "--reports-dir",
            "out",
        ]
        _ok(_run(command, tmp_path, extra=ACCOUNT), 1)
    assert _outcomes(tmp_path / "out" / "results.json") == expected


def _installed_pytest(venv: Path, checkout_run: dict[str, str], tmp_path: Path) -> None:
    where = _ok(
        _run(
            [venv / "bin" / "python", "-c", "import cas_conformance; print(cas_conformance.__file__)"],
            tmp_path,
        )
    )
    assert where.startswith(str(venv)), where
    run = tmp_path / "pytest"
    run.mkdir()
    _inventory(run / "prod.ini", "healthy")
    out = _ok(_run([venv / "bin" / "pytest", "--inventory", "prod.ini"], run))
    assert "passed" in out
    # Reports go to reports/ in the directory the run started in; no cache anywhere near.
    assert _outcomes(run / "reports" / "results.json") == checkout_run
    assert not (run / ".pytest_cache").exists()


def _console_script(venv: Path, checkout_run: dict[str, str], tmp_path: Path) -> None:
    _inventory(tmp_path / "prod.ini", "healthy")
    _ok(_run([venv / "bin" / "cas-conformance", "--inventory=prod.ini", "--reports-dir", "out"], tmp_path))
    assert _outcomes(tmp_path / "out" / "results.json") == checkout_run
    # python -m cas_conformance is the same command.
    listed = _ok(
        _run(
            [venv / "bin" / "python", "-m", "cas_conformance", "--inventory", "prod.ini", "--co", "-q"],
            tmp_path,
        )
    )
    assert sorted(line for line in listed.splitlines() if "::" in line) == sorted(checkout_run)


def _installed_lab_by_name(venv: Path, expected: dict[str, str], tmp_path: Path) -> None:
    """``cas-conformance lab serve broken`` from the wheel; the installed suite through the written
    inventory has the outcomes of the checkout's broken lab (``fixtures/lab/broken.ini``)."""
    faults = _ok(_run([venv / "bin" / "cas-conformance", "lab", "faults"], tmp_path))
    assert "must fail" in faults
    _suite_against_served_broken_lab(venv, expected, tmp_path, [str(venv / "bin" / "cas-conformance"), "lab"])

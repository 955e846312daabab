"""The same gate however its paths are typed: ``--opt PATH`` or ``--opt=PATH``, relative or absolute,
inside or outside the checkout, from the checkout or another directory.

pytest picks its rootdir from the first argument that looks like a path before it knows the
plugin's options, so ``--baseline /srv/gates/x.json`` once rooted the run at ``/srv/gates``: other
test ids, no pyproject addopts or testpaths, a gate failing on identical results, waivers matching
nothing, a ``.pytest_cache`` beside the baseline. Every form here must write the same results.json,
byte for byte once the clock (start, finish, durations) is taken out.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLOCK = re.compile(r'("(?:start_time|finish_time|duration)": )("[^"]*"|[0-9.e-]+)')
WAIVERS = """\
[[waiver]]
test = "tests_cas/test_owa_failback_url.py::*"
reason = "FailbackUrl names are published in change CHG-1"
owner = "messaging-team@contoso.com"
expires = 2099-12-31
"""


def _pytest(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _clockless(path: Path) -> bytes:
    return CLOCK.sub(r"\1null", path.read_text(encoding="utf-8")).encode("utf-8")


@pytest.fixture(scope="module")
def gates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A gate's files outside the checkout (facts of the broken lab, their results as the
    baseline, a waiver by test id), and the same directory seen from inside the checkout (a link
    under the checkout's reports/, removed afterwards)."""
    outside = tmp_path_factory.mktemp("gates")
    (outside / "broken.ini").write_text(
        (ROOT / "fixtures/lab/broken.ini").read_text().replace("broken.toml", "broken"), encoding="utf-8"
    )
    (outside / "waivers.toml").write_text(WAIVERS, encoding="utf-8")
    first = _pytest(
        [
            f"--inventory={outside / 'broken.ini'}",
            f"--save-facts={outside / 'facts.json'}",
            f"--reports-dir={outside / 'first'}",
        ],
        ROOT,
    )
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-2000:]
    shutil.copyfile(outside / "first" / "results.json", outside / "baseline.json")
    inside = ROOT / "reports" / f".path-forms-{uuid.uuid4().hex[:8]}"
    inside.symlink_to(outside, target_is_directory=True)
    try:
        yield outside, inside
    finally:
        inside.unlink()


def _gate(base: Path | str, reports: Path | str, *, eq: bool) -> list[str]:
    names = {
        "--replay-facts": "facts.json",
        "--baseline": "baseline.json",
        "--waivers": "waivers.toml",
    }
    args: list[str] = []
    for option, name in names.items():
        value = f"{base}/{name}" if str(base) else name
        args += [f"{option}={value}"] if eq else [option, value]
    args += [f"--reports-dir={reports}"] if eq else ["--reports-dir", str(reports)]
    return args


def test_every_form_of_the_gate_writes_the_same_results(gates: tuple[Path, Path], tmp_path: Path) -> None:
    outside, inside = gates
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rel_inside = inside.relative_to(ROOT)
    forms: dict[str, tuple[list[str], Path, Path]] = {
        "= absolute outside, from the checkout": (
            _gate(outside, outside / "r1", eq=True),
            ROOT,
            outside / "r1",
        ),
        "space absolute outside, from the checkout": (
            _gate(outside, outside / "r2", eq=False),
            ROOT,
            outside / "r2",
        ),
        "space relative, from the gate's directory": (_gate("", "r3", eq=False), outside, outside / "r3"),
        "= relative, from the gate's directory": (_gate("", "r4", eq=True), outside, outside / "r4"),
        "space relative inside, from the checkout": (
            _gate(rel_inside, rel_inside / "r5", eq=False),
            ROOT,
            outside / "r5",
        ),
        "space ../ inside, from a subdirectory": (
            _gate(f"../{rel_inside}", f"../{rel_inside}/r6", eq=False),
            ROOT / "docs",
            outside / "r6",
        ),
        "space absolute inside, from elsewhere": (
            _gate(inside, inside / "r7", eq=False),
            elsewhere,
            outside / "r7",
        ),
    }
    reference: bytes | None = None
    for form, (args, cwd, reports) in forms.items():
        result = _pytest(args, cwd)
        assert result.returncode == 0, (form, result.stdout[-3000:], result.stderr[-2000:])
        assert "gate PASSED" in result.stdout, form
        document = json.loads((reports / "results.json").read_text(encoding="utf-8"))
        ids = [t["nodeid"] for t in document["tests"]]
        assert ids and all(i.startswith("tests_cas/test_") for i in ids), (form, ids[:3])
        assert document["run"]["counts"]["waived"] > 0, form
        text = _clockless(reports / "results.json")
        reference = reference or text
        assert text == reference, form
    for place in (outside, elsewhere, ROOT / "docs"):
        assert not (place / ".pytest_cache").exists(), place


def test_a_baseline_outside_the_checkout_alone_collects_only_the_suite(
    gates: tuple[Path, Path], tmp_path: Path
) -> None:
    outside, _ = gates
    result = _pytest(
        ["--baseline", str(outside / "baseline.json"), "--co", f"--reports-dir={tmp_path}"], ROOT
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected and all(line.startswith("tests_cas/test_") for line in collected), collected[:5]
    assert not (outside / ".pytest_cache").exists()


def test_live_runs_save_facts_where_typed_with_the_same_outcomes(
    gates: tuple[Path, Path], tmp_path: Path
) -> None:
    """``--inventory`` and ``--save-facts`` in the space form, relative, from outside the checkout,
    against the lab by scenario name: the outcomes of the ``=`` form from the checkout."""
    outside, _ = gates
    run = tmp_path / "run"
    run.mkdir()
    for name in ("broken.ini", "waivers.toml"):  # waivers.toml beside the inventory applies by default
        shutil.copyfile(outside / name, run / name)
    result = _pytest(["--inventory", "broken.ini", "--save-facts", "facts.json", "--reports-dir", "out"], run)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert (run / "facts.json").is_file() and not (run / ".pytest_cache").exists()

    def outcomes(path: Path) -> dict[str, str]:
        return {t["nodeid"]: t["outcome"] for t in json.loads(path.read_text())["tests"]}

    assert outcomes(run / "out" / "results.json") == outcomes(outside / "first" / "results.json")


def test_a_test_id_selects_its_test_from_any_directory(gates: tuple[Path, Path], tmp_path: Path) -> None:
    """The ids the reports name (``tests_cas/...``) select their tests from outside the checkout too."""
    outside, _ = gates
    ids = sorted(t["nodeid"] for t in json.loads((outside / "baseline.json").read_text())["tests"])
    chosen = [ids[0], ids[-1]]
    result = _pytest(
        ["--replay-facts", str(outside / "facts.json"), "--co", f"--reports-dir={tmp_path}", *chosen],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert [line for line in result.stdout.splitlines() if "::" in line] == chosen

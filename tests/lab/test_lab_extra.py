"""The lab's dependencies are the ``lab`` extra: ``pip install cas-conformance`` alone imports and
runs every part of the product but the lab, and starting a lab without the extra is a usage error
(exit status 4, no traceback) that says how to get it.

Each test runs Python in a child process whose imports of psrpcore fail, as in an install without
the extra (a meta path finder that refuses it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HINT = "pip install 'cas-conformance[lab]'"
EXTRA = ("psrpcore",)  # pyproject.toml's [project.optional-dependencies] lab

WITHOUT_EXTRA = f"""\
import sys


class WithoutTheLabExtra:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {EXTRA!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, WithoutTheLabExtra())
"""


def _python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA + code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_module_but_the_labs_imports_without_the_extra() -> None:
    result = _python(
        """
import importlib, pathlib, cas_conformance
package = pathlib.Path(cas_conformance.__file__).parent
outside = [
    ".".join(("cas_conformance", *path.relative_to(package).with_suffix("").parts))
    for path in sorted(package.rglob("*.py"))
    if path.relative_to(package).parts[0] != "lab"
]
for name in outside:
    importlib.import_module(name.removesuffix(".__init__"))
assert "psrpcore" not in sys.modules
print(len(outside))
"""
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 50


def test_importing_the_lab_without_the_extra_says_what_to_install() -> None:
    result = _python(
        """
from cas_conformance.errors import LabError
try:
    import cas_conformance.lab
except LabError as exc:
    print(exc)
"""
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip() == f"the built-in lab needs the lab extra (psrpcore is not installed): {HINT}"
    )


@pytest.mark.parametrize("argv", [["lab", "faults"], ["lab", "serve", "healthy"]])
def test_the_lab_command_without_the_extra_is_a_usage_error(argv: list[str]) -> None:
    result = _python(f"from cas_conformance.cli import main\nsys.exit(main({argv!r}))")
    assert result.returncode == 4, result.stdout + result.stderr
    assert HINT in result.stderr and "cas-conformance lab: " in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_lab_scenario_without_the_extra_names_its_inventory_line(tmp_path: Path) -> None:
    inventory = tmp_path / "lab.ini"
    inventory.write_text("cas01.contoso.lab\n\n[all:vars]\nlab_scenario = healthy\n", encoding="utf-8")
    result = _python(
        f"from cas_conformance.cli import main\nsys.exit(main(['--inventory', {str(inventory)!r}]))", tmp_path
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{inventory}:4: lab_scenario: the built-in lab needs the lab extra" in result.stderr, (
        result.stderr
    )
    assert HINT in result.stderr
    assert "Traceback" not in result.stdout + result.stderr

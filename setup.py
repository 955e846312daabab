"""The wheel carries the suite and the lab's scenarios, copied from where the repository keeps them.

Everything else is declared in pyproject.toml. ``build_py`` adds, in the built package:

    cas_conformance/suite/tests_cas/        <- tests_cas/ (but caches)
    cas_conformance/suite/pyproject.toml    <- the [tool.pytest.ini_options] table of pyproject.toml
    cas_conformance/lab/scenarios/*.toml    <- fixtures/lab/*.toml

so an installed suite has the same test ids and pytest options as the checkout
(``cas_conformance.locations``). An editable install (``pip install -e .``) gets no copies: it
runs from the checkout, where the originals are.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PYTEST_TABLE = "[tool.pytest.ini_options]"


def pytest_table(pyproject: str) -> str:
    """The ``[tool.pytest.ini_options]`` table of *pyproject*, verbatim (up to the next table)."""
    lines = pyproject.splitlines()
    start = lines.index(PYTEST_TABLE)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    return "\n".join(lines[start:end]).rstrip() + "\n"


class BuildWithSuite(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib, "cas_conformance")
        suite = package / "suite"
        scenarios = package / "lab" / "scenarios"
        for copy in (suite, scenarios):  # no stale copy of a file the repository no longer has
            shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(
            HERE / "tests_cas", suite / "tests_cas", ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]")
        )
        header = (
            "# The pytest options of cas-conformance's pyproject.toml, copied when the wheel was built.\n"
        )
        table = pytest_table((HERE / "pyproject.toml").read_text(encoding="utf-8"))
        (suite / "pyproject.toml").write_text(header + table, encoding="utf-8")
        scenarios.mkdir(parents=True)
        for source in sorted((HERE / "fixtures" / "lab").glob("*.toml")):
            shutil.copyfile(source, scenarios / source.name)


setup(cmdclass={"build_py": BuildWithSuite})

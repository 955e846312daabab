"""The package face (``cas_conformance/__init__.py``): the names a test of the suite or a script
imports, each loaded when first used, so ``import cas_conformance`` stays light (no pytest, no
checks); the suite imports nothing else of the package."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import cas_conformance

ROOT = Path(__file__).resolve().parents[1]
FACE = ROOT / "cas_conformance" / "__init__.py"
PUBLIC = [
    "REQUIREMENTS",
    "FactsUnavailable",
    "Finding",
    "NotApplicable",
    "Requirement",
    "Severity",
    "Verdict",
    "assert_conforms",
    "evaluate",
    "requirement",
]


def _loaded_after(code: str) -> list[str]:
    """The package's modules and pytest's, as loaded by a fresh interpreter after *code*."""
    probe = (
        f"import sys; {code}; print(sorted(m for m in sys.modules "
        "if m.partition('.')[0] in ('cas_conformance', 'pytest', '_pytest')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=ROOT)
    return list(ast.literal_eval(out.stdout))


def test_the_public_names_are_these() -> None:
    assert cas_conformance.__all__ == PUBLIC


def test_each_public_name_is_its_module_s_own() -> None:
    homes = vars(cas_conformance)["_HOMES"]
    assert sorted(homes) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(cas_conformance, name) is getattr(importlib.import_module(homes[name]), name), name
    assert set(PUBLIC) <= set(dir(cas_conformance))


def test_type_checkers_see_the_same_names_from_the_same_modules() -> None:
    """The TYPE_CHECKING imports (what mypy sees) and the lazy table (what runs) agree."""
    tree = ast.parse(FACE.read_text(encoding="utf-8"))
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    seen = {a.name: n.module for n in guarded.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert seen == vars(cas_conformance)["_HOMES"]


def test_importing_the_package_loads_nothing_else() -> None:
    assert _loaded_after("import cas_conformance") == ["cas_conformance"]
    finding = _loaded_after("from cas_conformance import Finding")
    assert "cas_conformance.checks" in finding
    assert not [m for m in finding if m.partition(".")[0] in ("pytest", "_pytest")]


def test_an_unknown_name_is_no_attribute_and_modules_still_import() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = cas_conformance.nothing_here  # type: ignore[attr-defined]
    from cas_conformance import cli

    assert cli.__name__ == "cas_conformance.cli"


def test_pytest_does_not_rewrite_the_package_face() -> None:
    assert "PYTEST_DONT_REWRITE" in (cas_conformance.__doc__ or "")


def test_the_suite_imports_only_the_package_face() -> None:
    wrong = []
    for path in sorted((ROOT / "tests_cas").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cas_conformance"):
                names = [node.module] if node.module != "cas_conformance" else []
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("cas_conformance.")]
            else:
                continue
            wrong += [f"{path.name}:{node.lineno} {name}" for name in names]
    assert not wrong, f"tests_cas imports from cas_conformance only: {wrong}"

"""Data flows one way: the World does not import the checks, and checks import no collector or
channel code for WinRM output (they read facts; pure helpers live in neutral modules)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cas_conformance"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_world_imports_no_check() -> None:
    assert not {n for n in _imports(PACKAGE / "world.py") if n.startswith("cas_conformance.checks")}


def test_checks_import_no_collector_and_no_winrm_channel() -> None:
    for path in sorted((PACKAGE / "checks").glob("*.py")):
        bad = {
            n
            for n in _imports(path)
            if n.startswith(
                (
                    "cas_conformance.collector",
                    "cas_conformance.channels.winrm",
                    "cas_conformance.evidence",
                    "cas_conformance.gather",
                )
            )
        }
        assert not bad, f"checks/{path.name} imports {sorted(bad)}"


def test_the_world_and_the_evidence_model_hold_data_only() -> None:
    """What the checks read (the World, the Evidence and the endpoints derived from its facts)
    imports no channel, collector, gathering or fetching code: data and pure questions only."""
    readers = (PACKAGE / "world.py", PACKAGE / "endpoints.py", PACKAGE / "evidence" / "model.py")
    for path in readers:
        bad = {
            n
            for n in _imports(path)
            if n.startswith(
                ("cas_conformance.channels", "cas_conformance.collector", "cas_conformance.gather")
            )
            or (n.startswith("cas_conformance.evidence") and n != "cas_conformance.evidence.model")
        }
        assert not bad, f"{path.name} imports {sorted(bad)}"

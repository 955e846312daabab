"""The layering contract, read from the folders: data flows one way, no import runs back up.

    errors, locations                     the one exception root; where the suite is
    domain                                the vocabulary (no I/O)
    channels | inventory | collector      how bytes reach a host | Ansible's inventory | the OS script
    settings                              typed settings built from the inventory
    evidence                              fetch, save and load each kind; the frozen Evidence
    checks                                Evidence -> Finding
    run                                   one run without pytest
    report                                results.json, HTML, remediation.ps1, gate, waivers
    pytest_plugin                         pytest glue
    cli; __main__, __init__               the command line; the faces

A module imports its own package and the packages of lower layers only; packages that share a
layer do not import each other. Checks read the evidence only through what holds data (``model``,
``view``, ``endpoints``), never a fetcher, a channel or the collector. The lab is a library beside the product: it imports only
the vocabulary, and the product reaches it only where it starts a lab (the plugin's state, the CLI).
Every import counts: at the top, inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cas_conformance"
ROOT = "cas_conformance"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "locations"),
    ("domain",),
    ("channels", "inventory", "collector"),
    ("settings",),
    ("evidence",),
    ("checks",),
    ("run",),
    ("report",),
    ("pytest_plugin",),
    ("cli",),
    ("__main__", "__init__"),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
EVIDENCE_READERS = {"model", "view", "endpoints"}
LAB_MAY_IMPORT = {"errors", "locations", "domain"}
MAY_START_THE_LAB = {"pytest_plugin", "cli"}

#: Imports that run against the contract, each to be removed; the set may only shrink (an entry that
#: no longer matches an import fails the test). Empty: keep it so.
STILL_ALLOWED: set[tuple[str, str]] = set()


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)


def _imports(path: Path) -> set[str]:
    """Every cas_conformance module *path* imports (``from a import b``: ``a``, and ``a.b`` when
    ``b`` is a module of package ``a``)."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            for alias in node.names:
                candidate = PACKAGE.parent.joinpath(*f"{base}.{alias.name}".split("."))
                if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
                    found.add(f"{base}.{alias.name}")
    return {n for n in found if n == ROOT or n.startswith(ROOT + ".")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _violation(importer: str, imported: str) -> str | None:
    here, there = _part(importer), _part(imported)
    if importer == ROOT or here == there:
        return None
    if here == "lab":
        return None if there in LAB_MAY_IMPORT else "the lab imports only the vocabulary"
    if there == "lab":
        return None if here in MAY_START_THE_LAB else "only the plugin and the CLI start a lab"
    if imported == ROOT:
        return "the package face is for users, not for the package's own modules"
    if RANK[there] > RANK[here]:
        return f"{here} (layer {RANK[here]}) imports {there} (layer {RANK[there]}): an arrow back up"
    if RANK[there] == RANK[here]:
        return f"{here} and {there} share a layer and do not import each other"
    if here == "checks" and there in ("channels", "collector"):
        return "checks open no socket and run no collector: they judge the evidence"
    if here == "checks" and there == "evidence":
        inner = imported.split(".")[2:3]
        if not inner or inner[0] not in EVIDENCE_READERS:
            return "checks read the evidence's data (model, view, endpoints), never a fetcher"
    return None


def _all_violations() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for path in _modules():
        importer = _name(path)
        for imported in _imports(path):
            why = _violation(importer, imported)
            if why:
                found[(importer, imported)] = why
    return found


def test_every_package_has_a_layer() -> None:
    parts = {_part(_name(path)) for path in _modules()} - {"lab"}
    assert parts <= set(RANK), f"packages with no layer: {sorted(parts - set(RANK))}"


def test_no_import_runs_back_up() -> None:
    violations = {pair: why for pair, why in _all_violations().items() if pair not in STILL_ALLOWED}
    assert not violations, "\n".join(f"{a} -> {b}: {why}" for (a, b), why in sorted(violations.items()))


def test_the_exceptions_only_shrink() -> None:
    stale = STILL_ALLOWED - set(_all_violations())
    assert not stale, f"no longer imported, remove from STILL_ALLOWED: {sorted(stale)}"


def test_at_most_six_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("cas_conformance.checks.owa", "cas_conformance.evidence.view", True),
        ("cas_conformance.checks.owa", "cas_conformance.evidence.exchange", False),
        ("cas_conformance.checks.owa", "cas_conformance.evidence", False),
        ("cas_conformance.checks.owa", "cas_conformance.channels.dns", False),
        ("cas_conformance.channels.psrp", "cas_conformance.settings", False),
        ("cas_conformance.channels.psrp", "cas_conformance.inventory", False),
        ("cas_conformance.evidence.os", "cas_conformance.collector.parse", True),
        ("cas_conformance.report.gate", "cas_conformance.pytest_plugin.state", False),
        ("cas_conformance.lab.servers.dns", "cas_conformance.evidence.model", False),
        ("cas_conformance.lab.servers.dns", "cas_conformance.errors", True),
        ("cas_conformance.run.gather", "cas_conformance.lab", False),
        ("cas_conformance.pytest_plugin.state", "cas_conformance.lab", True),
        ("cas_conformance.checks.owa", "cas_conformance", False),
    ],
)
def test_the_contract_can_fail(importer: str, imported: str, allowed: bool) -> None:
    assert (_violation(importer, imported) is None) is allowed

"""Checks judge evidence; they open no socket and import no channel or collector code.

What a check reads is plain data (``cas_conformance.domain.records``: a TLS handshake, a DNS answer) and
pure judgement (``cas_conformance.domain.chain_verdict``). This test reads every module under
``cas_conformance/checks`` and fails on any import of ``cas_conformance.channels`` or
``cas_conformance.collector``, whether at the top, inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cas_conformance.checks

CHECKS = Path(cas_conformance.checks.__file__).parent
FORBIDDEN = ("cas_conformance.channels", "cas_conformance.collector")

#: Imports still allowed (none since the OS collector's rework moved the parsers the checks use to
#: neutral modules). Should one ever be needed, it is listed here; the list may only shrink:
#: an entry that no longer matches an import fails the test.
STILL_ALLOWED: set[tuple[str, str]] = set()


def _module_name(path: Path, checks: Path = CHECKS) -> str:
    parts = path.relative_to(checks.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, checks: Path) -> set[str]:
    """Every module *path* imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    name = _module_name(path, checks)
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
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _forbidden_imports(checks: Path = CHECKS) -> set[tuple[str, str]]:
    out = set()
    for path in sorted(checks.rglob("*.py")):
        for imported in _imports(path, checks):
            if any(imported == f or imported.startswith(f + ".") for f in FORBIDDEN):
                out.add((_module_name(path, checks), imported))
    return out


def _by_module(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """(checks module, imported module): a ``from m import name`` pair counts once, as *m*."""
    modules = {imported for _, imported in pairs}
    return {(who, imported) for who, imported in pairs if imported.rpartition(".")[0] not in modules}


def test_no_check_imports_channel_or_collector_code() -> None:
    offending = _by_module(_forbidden_imports()) - STILL_ALLOWED
    assert not offending, f"checks must read records, not channels/collector: {sorted(offending)}"


def test_the_allowed_list_only_shrinks() -> None:
    stale = STILL_ALLOWED - _by_module(_forbidden_imports())
    assert not stale, f"no longer imported, remove from STILL_ALLOWED: {sorted(stale)}"


def test_the_reader_sees_every_form_of_import(tmp_path: Path) -> None:
    """The test above can fail: each way of writing an import of channel code is found."""
    checks = tmp_path / "cas_conformance" / "checks"
    checks.mkdir(parents=True)
    (checks / "sample.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import cas_conformance.channels.dns\n"
        "from cas_conformance import channels\n"
        "from ..channels.tls import verify_chain\n"
        "if TYPE_CHECKING:\n"
        "    from cas_conformance.collector import parse\n"
        "def late():\n"
        "    from cas_conformance.channels import winrm\n",
        encoding="utf-8",
    )
    found = {
        imported for who, imported in _forbidden_imports(checks) if who == "cas_conformance.checks.sample"
    }
    assert {
        "cas_conformance.channels.dns",
        "cas_conformance.channels",
        "cas_conformance.channels.tls",
        "cas_conformance.collector",
        "cas_conformance.channels.winrm",
    } <= found


def test_old_import_paths_still_work() -> None:
    from cas_conformance.domain import chain_verdict, records
    from cas_conformance.channels import dns, tls

    assert tls.verify_chain is chain_verdict.verify_chain
    assert tls.ChainVerdict is chain_verdict.ChainVerdict
    assert tls.TlsHandshake is records.tls.TlsHandshake
    assert dns.DnsAnswer is records.dns.DnsAnswer
    assert dns.is_ip_literal is records.dns.is_ip_literal

"""Every registered check has unit tests on hand-built facts in this folder (a new requirement
without them fails here)."""

from __future__ import annotations

from pathlib import Path

from cas_conformance.checks import CHECKS

HERE = Path(__file__).parent


def test_every_requirement_is_judged_by_a_unit_test() -> None:
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in HERE.glob("test_*.py") if p.name != Path(__file__).name
    )
    untested = sorted(rid for rid in CHECKS if f'"{rid}"' not in text)
    assert not untested, f"no unit test names {untested}"

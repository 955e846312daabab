"""Each DRIFT requirement has its page in docs/requirements: the catalogue's title, the sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_conformance.catalogue import REQUIREMENTS, Requirement

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["What it checks", "Why", "When it does not apply", "Remediation", "Variables it reads"]


@pytest.mark.parametrize("req", [r for r in REQUIREMENTS if r.id.startswith("DRIFT-")], ids=lambda r: r.id)
def test_drift_requirement_page(req: Requirement) -> None:
    text = (ROOT / "docs" / "requirements" / f"{req.id}.md").read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# {req.id}: {req.title}"
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == SECTIONS
    assert f"docs/requirements/{req.id}.md" in (ROOT / "README.md").read_text(encoding="utf-8")

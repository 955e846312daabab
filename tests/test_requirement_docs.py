"""The documentation stays true: one page per catalogue requirement (and no page without one), ids,
titles, severities and reference sections as the catalogue has them, an index listing them all,
every inventory variable documented, and the README's links resolving."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cas_conformance.checks import REQUIREMENTS
from cas_conformance.domain.catalogue import Requirement
from cas_conformance.settings.validate import known_variables

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "requirements"
INDEX = PAGES / "README.md"
VARIABLES = ROOT / "docs" / "variables.md"
HEADINGS = (
    "## What it checks",
    "## Why it matters",
    "## When it does not apply",
    "## Remediation",
    "## Variables it reads",
)


def _page(req: Requirement) -> str:
    path = PAGES / f"{req.id}.md"
    if not path.is_file():
        pytest.fail(
            f"docs/requirements/{req.id}.md is missing: write the page of {req.id} "
            f'("{req.title}", {req.severity.value}, section "{req.section}") with the sections '
            f"{', '.join(h.removeprefix('## ') for h in HEADINGS)}, and add it to docs/requirements/README.md",
            pytrace=False,
        )
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("req", REQUIREMENTS, ids=[r.id for r in REQUIREMENTS])
def test_every_requirement_has_a_true_page(req: Requirement) -> None:
    text = _page(req)
    lines = text.splitlines()
    where = f"docs/requirements/{req.id}.md"
    assert lines[0] == f"# {req.id}: {req.title}", (
        f"{where}: the title line must be '# {req.id}: {req.title}'"
    )
    assert f"- **Severity:** {req.severity.value}" in lines, f"{where}: severity must be {req.severity.value}"
    assert f'section "{req.section}"' in text, f'{where}: the reference section must be "{req.section}"'
    missing = [h for h in HEADINGS if h not in lines]
    assert not missing, f"{where}: missing sections {missing}"
    for heading in HEADINGS:
        body = text.split(heading, 1)[1].split("\n## ", 1)[0].strip()
        assert body, f"{where}: '{heading}' is empty"


def test_every_page_is_a_requirement() -> None:
    ids = {r.id for r in REQUIREMENTS}
    extra = sorted(p.name for p in PAGES.glob("*.md") if p.name != "README.md" and p.stem not in ids)
    assert not extra, f"docs/requirements has pages for no catalogue requirement: {extra}"


def test_the_index_lists_every_requirement_once() -> None:
    index = INDEX.read_text(encoding="utf-8")
    for req in REQUIREMENTS:
        row = f"| [{req.id}]({req.id}.md) | {req.title} | {req.severity.value} | {req.section} |"
        assert index.count(f"[{req.id}]({req.id}.md)") == 1, f"docs/requirements/README.md: add the row {row}"
        assert row in index, f"docs/requirements/README.md: the row of {req.id} must read {row}"


def test_every_variable_is_documented_with_its_values() -> None:
    text = VARIABLES.read_text(encoding="utf-8")
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `([a-z0-9_]+)` \| ([^|]+) \|", text, re.MULTILINE)}
    missing = sorted(known_variables() - set(rows))
    assert not missing, f"docs/variables.md: no row for {missing}"
    assert "`enforced`" in rows["outlook2003_encryption"] and "`none`" in rows["outlook2003_encryption"]
    assert "HKLM:" in rows["polling_registry_key"]
    unknown = sorted(set(rows) - known_variables())
    assert not unknown, f"docs/variables.md documents variables the suite does not read: {unknown}"


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?:docs|cas_conformance|fixtures)/[^)#]+)", readme)
    assert "docs/requirements/README.md" in links and "docs/variables.md" in links
    broken = [link for link in links if not (ROOT / link).exists()]
    assert not broken, f"README.md links to missing files: {broken}"
    # users do not have the project's spec: nothing may send them to it
    assert "REQUIREMENTS" not in readme.replace("cas_conformance", "")

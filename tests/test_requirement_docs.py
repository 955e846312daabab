"""The documentation stays true: one page per catalogue requirement (and no page without one), ids,
titles, severities, reference sections and subjects as the checks declare them, the index's table
generated from the catalogue, every inventory variable documented, and the README's links resolving.

`.venv/bin/python -m tests.test_requirement_docs` writes the index's table again from the catalogue.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cas_conformance.checks import CHECKS, REQUIREMENTS
from cas_conformance.domain.catalogue import Requirement, Subject
from cas_conformance.settings.validate import known_variables

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "requirements"
INDEX = PAGES / "README.md"
VARIABLES = ROOT / "docs" / "variables.md"
INDEX_COMMAND = ".venv/bin/python -m tests.test_requirement_docs"
TABLE_BEGIN = f"<!-- the table below is generated from the catalogue: {INDEX_COMMAND} -->"
TABLE_END = "<!-- end of the generated table -->"
#: How each subject's pages begin their "Checked per" line (the longest match names the subject).
CHECKED_PER = {
    Subject.SERVER: "Exchange server in the inventory",
    Subject.CAS: "Client Access server (and Mailbox server that hosts a public-folder database)",
    Subject.CLIENT_ACCESS: "Client Access server",
    Subject.NON_CAS: "Exchange server without the Client Access role",
    Subject.DATABASE: "mailbox database",
    Subject.RPC_ENDPOINT: "distinct `RpcClientAccessServer` value",
    Subject.OWA_VDIR: "OWA virtual directory",
    Subject.CERTIFICATE: "certificate assigned to an Exchange service",
    Subject.NAME: "published host name",
    Subject.ENDPOINT: "published URL",
    Subject.AUTODISCOVER: "mail domain (`smtp_domains`), only with `probe_credentials`",
    Subject.SMTP_DOMAIN: "mail domain",
    Subject.PEER_GROUP: "peer group",
}
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
            f'("{req.title}", {req.severity.value}, section "{req.section}", checked per '
            f"{CHECKED_PER[CHECKS[req.id].subject]}...) with the sections "
            f"{', '.join(h.removeprefix('## ') for h in HEADINGS)}, then write the index again: {INDEX_COMMAND}",
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
    checked_per = next((line for line in lines if line.startswith("- **Checked per:** ")), "")
    named = [
        s
        for s, text in CHECKED_PER.items()
        if checked_per.removeprefix("- **Checked per:** ").startswith(text)
    ]
    subject = CHECKS[req.id].subject
    assert max(named, key=lambda s: len(CHECKED_PER[s]), default=None) is subject, (
        f"{where}: the 'Checked per' line must begin '- **Checked per:** {CHECKED_PER[subject]}'"
    )
    missing = [h for h in HEADINGS if h not in lines]
    assert not missing, f"{where}: missing sections {missing}"
    for heading in HEADINGS:
        body = text.split(heading, 1)[1].split("\n## ", 1)[0].strip()
        assert body, f"{where}: '{heading}' is empty"


def test_every_page_is_a_requirement() -> None:
    ids = {r.id for r in REQUIREMENTS}
    extra = sorted(p.name for p in PAGES.glob("*.md") if p.name != "README.md" and p.stem not in ids)
    assert not extra, f"docs/requirements has pages for no catalogue requirement: {extra}"


def index_table() -> str:
    """The index's table: every requirement of the catalogue, in its order."""
    rows = [f"| [{r.id}]({r.id}.md) | {r.title} | {r.severity.value} | {r.section} |" for r in REQUIREMENTS]
    return "\n".join(["| id | requirement | severity | reference section |", "|---|---|---|---|", *rows])


def _with_table(index: str) -> str:
    """*index* with the generated table between its markers written again."""
    before, begin, rest = index.partition(TABLE_BEGIN)
    _, end, after = rest.partition(TABLE_END)
    assert begin and end, (
        f"docs/requirements/README.md: the markers {TABLE_BEGIN} and {TABLE_END} are missing"
    )
    return f"{before}{TABLE_BEGIN}\n\n{index_table()}\n\n{TABLE_END}{after}"


def test_the_index_is_generated_from_the_catalogue() -> None:
    index = INDEX.read_text(encoding="utf-8")
    assert index == _with_table(index), (
        f"docs/requirements/README.md is not the catalogue's: run {INDEX_COMMAND}"
    )


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


if __name__ == "__main__":
    INDEX.write_text(_with_table(INDEX.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {INDEX.relative_to(ROOT)}: {len(REQUIREMENTS)} requirements")

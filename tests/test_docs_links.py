"""The documentation's links lead somewhere, and it sends no one to files users do not have.

Every relative link of README.md, CONTRIBUTING.md, CHANGELOG.md and docs/**/*.md names a file or
folder of the repository, and a ``#fragment`` into a Markdown page names one of its headings (as
GitHub spells heading anchors). Links inside code (fenced blocks, ``inline code``) are not links.

The project's working notes (``REQUIREMENTS.md``, ``exchange-facts.md``) are not in the repository:
nothing users read may cite them, in the documentation or in the package. Cite the public source
instead (a Microsoft Learn or KB page, an RFC, a protocol specification).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").rglob("*.md")),
]
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_EXTERNAL = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...

#: What may not be cited, and where it may not be.
#: (``exchange-facts.md``, ``exchange-facts 8.1``, ``exchange-facts sections 1, 2``; an anchor such as
#: ``#exchange-remote-powershell-exchange-facts`` is no citation)
NOT_CITED = re.compile(r"REQUIREMENTS\.md|exchange-facts(?:\.md|\s+(?:sections?\s+)?\d)", re.IGNORECASE)
CITATION_SCOPE = [
    *(ROOT / name for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "Makefile", "pyproject.toml")),
    *(
        ROOT / folder
        for folder in ("docs", "cas_conformance", "tests", "tests_cas", "benchmarks", "fixtures")
    ),
]
TEXT_SUFFIXES = {".md", ".py", ".ps1", ".json", ".toml", ".ini", ".txt", ".html", ".js", ".css"}


def prose(text: str, *, inline_code: bool = False) -> str:
    """*text* without its code: fenced blocks become blank lines, inline code spans disappear
    (unless *inline_code*: a heading's anchor is made from its code too)."""
    kept: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening[1]
            kept.append("")
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            kept.append("")
        else:
            kept.append(line if inline_code else _INLINE_CODE.sub("", line))
    return "\n".join(kept)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose(page.read_text(encoding="utf-8"), inline_code=True).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = anchor(match[1])
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links_in(text: str) -> list[tuple[int, str]]:
    """Every link target of Markdown *text* outside code, with its line, in order."""
    cleaned = prose(text)
    return sorted(
        (cleaned.count("\n", 0, m.start()) + 1, m[1])
        for pattern in (_LINK, _REFERENCE)
        for m in pattern.finditer(cleaned)
    )


def broken_link(document: Path, target: str) -> str | None:
    """Why *target* (a link of *document*) leads nowhere, or None."""
    if _EXTERNAL.match(target):
        return None
    path, _, fragment = target.partition("#")
    page = (document.parent / path).resolve() if path else document
    if not page.exists():
        return f"{path} does not exist"
    if ROOT not in page.parents and page != ROOT:
        return f"{path} is outside the repository"
    if fragment and page.suffix == ".md" and fragment not in anchors(page):
        return f"{page.relative_to(ROOT)} has no heading #{fragment}"
    return None


def test_every_relative_link_leads_to_a_file_and_heading() -> None:
    broken = [
        f"{document.relative_to(ROOT)}:{line}: ({target}): {why}"
        for document in DOCUMENTS
        if document.is_file()
        for line, target in links_in(document.read_text(encoding="utf-8"))
        if (why := broken_link(document, target)) is not None
    ]
    assert not broken, "\n".join(broken)


def test_the_link_reader_reads_links() -> None:
    text = "[a](docs/x.md#b) `[c](no.md)` [d](https://example.com)\n```\n[e](no.md)\n```\n[f]: docs/y.md\n"
    page = ROOT / "README.md"
    found = [target for _, target in links_in(text)]
    assert found == ["docs/x.md#b", "https://example.com", "docs/y.md"]
    assert broken_link(page, "https://example.com") is None
    assert broken_link(page, "docs/no-such-page.md") == "docs/no-such-page.md does not exist"
    assert anchor("Drift: the servers behind one name agree") == "drift-the-servers-behind-one-name-agree"
    assert anchor("`results.json`") == "resultsjson"
    assert anchor("`--limit PATTERN`") == "--limit-pattern"
    assert NOT_CITED.search("(exchange-facts 8.1)") and NOT_CITED.search("see exchange-facts.md section 6")
    assert NOT_CITED.search("exchange-facts sections 1, 2") and NOT_CITED.search("REQUIREMENTS.md PROXY-02")
    assert not NOT_CITED.search("variables.md#exchange-remote-powershell-exchange-facts")


def _scoped_files() -> Iterator[Path]:
    for place in CITATION_SCOPE:
        if place.is_file():
            yield place
        elif place.is_dir():
            yield from (
                p
                for p in sorted(place.rglob("*"))
                if p.is_file()
                and p.suffix in TEXT_SUFFIXES
                and "__pycache__" not in p.parts
                and p != Path(__file__).resolve()
            )


def test_nothing_cites_a_file_the_repository_does_not_have() -> None:
    citing = {
        path.relative_to(ROOT).as_posix()
        for path in _scoped_files()
        if NOT_CITED.search(path.read_text(encoding="utf-8", errors="replace"))
    }
    assert not citing, (
        f"cite the public source instead of REQUIREMENTS.md or exchange-facts.md in: {sorted(citing)}"
    )

"""Facts files across versions: every field a saved facts file holds, removed as a version that
never saved it would have written the file, either loads (the field takes its default) or is
refused with the one clear line (the file's schema, this version's, gather again); never a
KeyError, a TypeError or a traceback. Which fields may be absent is pinned here and listed in
docs/facts-files.md; the HasPrivateKey case (a field added to the Exchange facts) is simulated
both ways."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cas_conformance.domain import facts as facts_module
from cas_conformance.domain.facts import ExchangeCertificate, if_absent
from cas_conformance.evidence import codec
from cas_conformance.run.facts_file import (
    GATHER_AGAIN,
    SCHEMA,
    FactsFileError,
    evidence_from_dict,
    evidence_to_dict,
    load_world,
)

ROOT = Path(__file__).resolve().parents[2]
#: facts files saved by this version (tests/fixtures/facts/<schema number>/)
TODAY = sorted(
    p
    for p in (ROOT / "tests" / "fixtures" / "facts" / SCHEMA.rsplit("/", 1)[1]).glob("*.json")
    if not p.name.endswith(".outcomes.json")
)
DOCS = ROOT / "docs" / "facts-files.md"

#: a field's place in the file: "*" is any entry of an object keyed by a name, "[]" any list item
Pattern = tuple[str, ...]
#: objects keyed by a name (a host, a URL, a mail domain): their keys are entries, not fields
NAMED: set[Pattern] = {
    ("evidence", "exchange", "servers"),
    ("evidence", "os"),
    ("evidence", "http", "probes"),
    ("evidence", "http", "autodiscover"),
    ("evidence", "tls", "handshakes"),
    ("evidence", "revocation"),
    ("evidence", "smtp"),
}
#: the fields a facts file may lack (docs/facts-files.md); every other field is required
MAY_BE_ABSENT = {
    "inventory_path",
    "evidence.exchange.organisation.attempts",
    "evidence.os.*.raw_output",
    "evidence.os.*.error",
    "evidence.os.*.seconds",
    "evidence.dns.answers[].cname_chain",
    "evidence.dns.answers[].resolver",
    "evidence.dns.answers[].detail",
    "evidence.http.probes.*.location",
    "evidence.http.probes.*.content_type",
    "evidence.http.autodiscover.*.location",
    "evidence.http.autodiscover.*.content_type",
    "evidence.http.probe_email",
    "evidence.smtp.*.banner",
    "evidence.smtp.*.extensions",
    "evidence.smtp.*.starttls_ok",
}


def _patterns(value: Any, at: Pattern = ()) -> Iterator[Pattern]:
    """Every field of every record *value* holds, at any depth."""
    if isinstance(value, list):
        for item in value:
            yield from _patterns(item, (*at, "[]"))
    elif isinstance(value, dict):
        for key, inner in value.items():
            here = (*at, "*") if at in NAMED else (*at, key)
            if at not in NAMED:
                yield here
            yield from _patterns(inner, here)


def _nodes(value: Any, pattern: Pattern) -> Iterator[Any]:
    """The objects and lists at *pattern*."""
    if not pattern:
        yield value
        return
    step, rest = pattern[0], pattern[1:]
    if step == "[]" and isinstance(value, list):
        for item in value:
            yield from _nodes(item, rest)
    elif step == "*" and isinstance(value, dict):
        for item in value.values():
            yield from _nodes(item, rest)
    elif isinstance(value, dict) and step in value:
        yield from _nodes(value[step], rest)


def _without(tree: Any, pattern: Pattern) -> tuple[Any, int]:
    """A copy of *tree* without the field at *pattern*, wherever it is, and how often it was there."""
    tree = copy.deepcopy(tree)
    removed = 0
    for node in _nodes(tree, pattern[:-1]):
        if isinstance(node, dict) and pattern[-1] in node:
            del node[pattern[-1]]
            removed += 1
    return tree, removed


def _text(pattern: Pattern) -> str:
    return ".".join(pattern).replace(".[]", "[]")


def _cases() -> list[tuple[Path, Pattern]]:
    cases = []
    for path in TODAY:
        data = json.loads(path.read_text(encoding="utf-8"))
        cases += [(path, p) for p in sorted(set(_patterns(data)))]
    return cases


CASES = _cases()


def _assert_refused(message: str, source: str, named: str, schema: str | None = SCHEMA) -> None:
    """The one clear line: where, both schemas, what to do, and the field it is about."""
    assert "\n" not in message, message
    assert message.startswith(f"{source}: cannot replay: "), message
    theirs = f"the file's schema is {schema}" if schema else "the file names no schema"
    assert f"({theirs}, this version's {SCHEMA}); " in message, message
    assert message.endswith(GATHER_AGAIN), message
    assert named in message, message


@pytest.mark.parametrize(
    ("path", "pattern"), CASES, ids=[f"{p.stem}:{_text(pattern)}" for p, pattern in CASES]
)
def test_a_file_without_a_field_loads_with_its_default_or_is_refused_in_one_line(
    path: Path, pattern: Pattern
) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    older, removed = _without(original, pattern)
    assert removed, _text(pattern)
    try:
        evidence = evidence_from_dict(older, source=path.name)
    except FactsFileError as exc:
        assert _text(pattern) not in MAY_BE_ABSENT, f"{_text(pattern)} should load: {exc}"
        _assert_refused(str(exc), path.name, pattern[-1], None if pattern == ("schema",) else SCHEMA)
        return
    assert _text(pattern) in MAY_BE_ABSENT, f"{_text(pattern)} loaded; it is not declared to"
    # Everything else loaded as saved, and the field is back, with its default, when saved again.
    again = json.loads(json.dumps(evidence_to_dict(evidence)))
    assert _without(again, pattern) == (older, removed)


def test_the_cases_cover_every_kind_of_evidence_and_every_field_declared_to_load() -> None:
    seen = {_text(p) for _, p in CASES}
    assert seen >= MAY_BE_ABSENT, MAY_BE_ABSENT - seen
    assert {p[1] for _, p in CASES if len(p) > 1 and p[0] == "evidence"} == {
        "exchange",
        "os",
        "dns",
        "http",
        "tls",
        "revocation",
        "smtp",
    }
    assert len(CASES) > 200, len(CASES)  # both labs' files, every field at every depth


def test_the_docs_list_the_fields_a_file_may_lack() -> None:
    listed = set(re.findall(r"^\| `([^`]+)` \|", DOCS.read_text(encoding="utf-8"), flags=re.M))
    assert listed == MAY_BE_ABSENT


def test_a_file_saved_before_probe_email_was_kept_loads_and_names_the_user(tmp_path: Path) -> None:
    """The one field a file of this schema really lacks when an earlier version saved it: the
    checks then name the user the Autodiscover request asked about, as that version did."""
    data = json.loads(TODAY[0].read_text(encoding="utf-8"))
    del data["evidence"]["http"]["probe_email"]
    older = tmp_path / "before-probe-email.json"
    older.write_text(json.dumps(data), encoding="utf-8")
    world = load_world(older)
    assert world.probe_email is None and world.probe_user


# --- HasPrivateKey: a field today's version has, missing from a file saved before it -----------


@dataclass(frozen=True)
class CertificateKnowingItsKey(ExchangeCertificate):
    """ExchangeCertificate as a later version might have it: ``HasPrivateKey`` asked for too,
    loaded as unknown from a file saved before (the checks then judge it as not reported)."""

    has_private_key: bool | None = if_absent(None)


@dataclass(frozen=True)
class CertificateNeedingItsKey(ExchangeCertificate):
    """The same field, required: a check that cannot judge without it."""

    has_private_key: bool = field(kw_only=True)


@pytest.fixture
def certificate_class(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Replaces ExchangeCertificate where the codec resolves it (the Exchange facts' hints)."""
    codec._hints.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    codec._hints.cache_clear()


def _certificates(path: Path) -> int:
    data = json.loads(path.read_text(encoding="utf-8"))
    return sum(len(s["certificates"]) for s in data["evidence"]["exchange"]["servers"].values())


def test_a_new_field_with_a_meaningful_default_loads_from_a_file_saved_without_it(
    certificate_class: pytest.MonkeyPatch,
) -> None:
    certificate_class.setattr(facts_module, "ExchangeCertificate", CertificateKnowingItsKey)
    assert any(_certificates(path) for path in TODAY)
    for path in TODAY:
        world = load_world(path)
        certificates = [c for s in world.evidence.exchange.servers.values() for c in s.certificates]
        assert len(certificates) == _certificates(path)
        assert all(isinstance(c, CertificateKnowingItsKey) for c in certificates)
        assert {c.has_private_key for c in certificates} <= {None}  # type: ignore[attr-defined]


def test_a_new_field_the_checks_need_refuses_a_file_saved_without_it(
    certificate_class: pytest.MonkeyPatch,
) -> None:
    certificate_class.setattr(facts_module, "ExchangeCertificate", CertificateNeedingItsKey)
    for path in TODAY:
        if not _certificates(path):  # a file without certificates lacks nothing
            assert load_world(path).evidence.exchange.organisation.errors
            continue
        with pytest.raises(FactsFileError) as refused:
            load_world(path)
        _assert_refused(str(refused.value), str(path), "has_private_key")
        assert re.search(
            r"the file lacks evidence\.exchange\.servers\[\"[^\"]+\"\]\.certificates\[0\]\.has_private_key,",
            str(refused.value),
        )


# --- other files this version cannot replay: the same one line -------------------------------


def _refused(data: dict[str, Any]) -> str:
    with pytest.raises(FactsFileError) as refused:
        evidence_from_dict(data, source="f.json")
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_a_file_of_a_newer_schema_is_refused_saying_which_version_reads_it() -> None:
    data = json.loads(TODAY[0].read_text(encoding="utf-8"))
    message = _refused({**data, "schema": "cas-conformance/facts/4"})
    assert message == (
        "f.json: cannot replay: this version does not read its schema (replay it with the version "
        "that saved it) (the file's schema is cas-conformance/facts/4, this version's "
        f"{SCHEMA}); {GATHER_AGAIN}"
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda d: d["evidence"]["dns"]["answers"][0].update(status="MAYBE"),
            "its dns evidence is malformed: ",
        ),
        (lambda d: d.update(now="yesterday"), "the file is malformed: Invalid isoformat string"),
        (lambda d: d["evidence"].update(tls=[]), "its tls evidence is malformed: "),
        (
            lambda d: d["evidence"]["os"].update({"x.contoso.lab": {"raw_output": None}}),
            "its os evidence is malformed: it names 'x.contoso.lab', which is not there",
        ),
    ],
    ids=["a-bad-value", "a-bad-date", "a-list-for-an-object", "a-server-outside-the-inventory"],
)
def test_a_malformed_part_is_refused_in_the_same_line(change: Any, says: str) -> None:
    data = json.loads(TODAY[0].read_text(encoding="utf-8"))
    change(data)
    message = _refused(data)
    assert message.startswith(f"f.json: cannot replay: {says}"), message
    assert message.endswith(f"(the file's schema is {SCHEMA}, this version's {SCHEMA}); {GATHER_AGAIN}")

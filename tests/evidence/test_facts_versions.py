"""Facts files across versions. The stored files of the schema this version writes
(tests/fixtures/facts/<N>/, found as tests/report/test_replay.py finds them): every field they hold,
and every field added since (saving a stored file again adds it, at its default), removed as a
version that never saved it would have written the file, either loads (the field takes its
default) or is refused with the one clear line (the file's schema, this version's, gather again);
never a KeyError, a TypeError or a traceback. A stored file saved again is the stored file plus the
fields added since, and nothing else.

Which fields may be absent comes from the code: the fact dataclasses' ``if_absent`` fields, found
here, and the fields a loader reads with ``data.get``, listed here (the removal test proves each
listed one loads and every other is refused); docs/facts-files.md lists them all. HasPrivateKey, a
field added to the Exchange facts, is simulated both ways: with ``if_absent`` (the stored files
keep loading, unchanged), and required (refused; test_replay.py simulates the new schema)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cas_conformance.domain import facts as facts_module
from cas_conformance.domain.facts import (
    ExchangeCertificate,
    ExchangeOrganisationFacts,
    ExchangeServerFacts,
    if_absent,
    loads_if_absent,
)
from cas_conformance.evidence import codec
from cas_conformance.run import facts_file
from cas_conformance.run.facts_file import (
    GATHER_AGAIN,
    SCHEMA,
    FactsFileError,
    evidence_from_dict,
    evidence_to_dict,
    load_world,
)
from tests.report.test_replay import assert_refused, current

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "facts-files.md"


#: facts files saved by versions of this schema
TODAY = current()

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
#: the fields a loader reads with ``data.get(key, default)`` (a record's from_dict, a kind's load,
#: the facts file's own); the removal test proves each loads, and that every field neither listed
#: here nor declared ``if_absent`` is refused
READ_WITH_A_DEFAULT = {
    "inventory_path",
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
#: where the codec loads fact dataclasses (evidence/exchange.py): their ``if_absent`` fields
CODEC_ROOTS: dict[Pattern, type[Any]] = {
    ("evidence", "exchange", "organisation"): ExchangeOrganisationFacts,
    ("evidence", "exchange", "servers", "*"): ExchangeServerFacts,
}


def _declared(cls: type[Any], at: Pattern) -> Iterator[tuple[Pattern, dataclasses.Field[Any]]]:
    """Every field of fact dataclass *cls* saved at *at*, at any depth, as the codec loads it."""
    hints = typing.get_type_hints(cls)  # resolved now: a test may replace a class
    for f in dataclasses.fields(cls):
        yield (*at, f.name), f
        yield from _inner(hints[f.name], (*at, f.name))


def _inner(hint: Any, at: Pattern) -> Iterator[tuple[Pattern, dataclasses.Field[Any]]]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            yield from _inner(option, at)
    elif typing.get_origin(hint) is tuple:
        yield from _inner(typing.get_args(hint)[0], (*at, "[]"))
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        yield from _declared(hint, at)


def if_absent_fields() -> dict[str, Any]:
    """The fields the fact dataclasses declare ``if_absent(default)``, each with its default as saved."""
    found = (
        (p, f) for root, cls in CODEC_ROOTS.items() for p, f in _declared(cls, root) if loads_if_absent(f)
    )
    return {_text(p): codec.dump(f.default) for p, f in found}


def may_be_absent() -> set[str]:
    """The fields a facts file may lack (docs/facts-files.md); every other field is required."""
    return set(if_absent_fields()) | READ_WITH_A_DEFAULT


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


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _saved_again(data: dict[str, Any], source: str) -> dict[str, Any]:
    """*data* loaded and saved again by this version, as JSON."""
    again: dict[str, Any] = json.loads(json.dumps(evidence_to_dict(evidence_from_dict(data, source=source))))
    return again


def _base(path: Path) -> dict[str, Any]:
    """What the removal test removes fields from: the stored file saved again (with every field
    added since), or the file as stored when it is refused (the tests below then say why)."""
    try:
        return _saved_again(_read(path), path.name)
    except FactsFileError:
        return _read(path)


BASES = {path: _base(path) for path in TODAY}
CASES = [(path, p) for path, base in BASES.items() for p in sorted(set(_patterns(base)))]
MAY_BE_ABSENT = may_be_absent()


def _check_without(base: dict[str, Any], pattern: Pattern, source: str, may: set[str]) -> None:
    """*base* without the field at *pattern* loads, the field declared to, or is refused in one line."""
    older, removed = _without(base, pattern)
    assert removed, _text(pattern)
    try:
        evidence = evidence_from_dict(older, source=source)
    except FactsFileError as exc:
        assert _text(pattern) not in may, f"{_text(pattern)} should load: {exc}"
        assert_refused(str(exc), source, pattern[-1], None if pattern == ("schema",) else facts_file.SCHEMA)
        return
    assert _text(pattern) in may, f"{_text(pattern)} loaded; it is not declared to"
    # Everything else loaded as saved, and the field is back, with its default, when saved again.
    again = json.loads(json.dumps(evidence_to_dict(evidence)))
    assert _without(again, pattern) == (older, removed)


def _check_saved_again(path: Path, may: set[str]) -> set[str]:
    """The stored file at *path*, saved again, is the stored file plus the fields added since, each
    declared to load if absent and, where ``if_absent`` declares it, at that default. Returns them."""
    original = _read(path)
    again = _saved_again(original, path.name)
    added = set(_patterns(again)) - set(_patterns(original))
    gone = {_text(p) for p in set(_patterns(original)) - set(_patterns(again))}
    assert not gone, f"saved again, {path.name} loses {sorted(gone)}"
    assert {_text(p) for p in added} <= may, f"added since, not declared to load: {added}"
    defaults = if_absent_fields()
    for pattern in sorted(added, key=len, reverse=True):
        if _text(pattern) in defaults:
            held = [n[pattern[-1]] for n in _nodes(again, pattern[:-1]) if pattern[-1] in n]
            assert held and all(v == defaults[_text(pattern)] for v in held), (_text(pattern), held)
        again, _ = _without(again, pattern)
    assert again == original, f"{path.name} saved again differs from the stored file"
    return {_text(p) for p in added}


@pytest.mark.parametrize(
    ("path", "pattern"), CASES, ids=[f"{p.stem}:{_text(pattern)}" for p, pattern in CASES]
)
def test_a_file_without_a_field_loads_with_its_default_or_is_refused_in_one_line(
    path: Path, pattern: Pattern
) -> None:
    _check_without(BASES[path], pattern, path.name, MAY_BE_ABSENT)


@pytest.mark.parametrize("path", TODAY, ids=lambda p: p.stem)
def test_a_stored_file_saved_again_is_the_stored_file_plus_the_fields_added_since(path: Path) -> None:
    _check_saved_again(path, MAY_BE_ABSENT)


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
    # the fact dataclasses are read where the files hold them: every Exchange field is one of theirs
    walked = {p for root, cls in CODEC_ROOTS.items() for p, _ in _declared(cls, root)}
    held = {p for _, p in CASES if p[:2] == ("evidence", "exchange") and len(p) > 2} - walked
    assert held == {("evidence", "exchange", key) for key in ("schema", "organisation", "servers")}
    assert "evidence.exchange.organisation.attempts" in if_absent_fields()


def test_the_docs_list_the_fields_a_file_may_lack() -> None:
    listed = set(re.findall(r"^\| `([^`]+)` \|", DOCS.read_text(encoding="utf-8"), flags=re.M))
    assert listed == MAY_BE_ABSENT


def test_a_file_saved_before_probe_email_was_kept_loads_and_names_the_user(tmp_path: Path) -> None:
    """The one field a file of this schema really lacks when an earlier version saved it: the
    checks then name the user the Autodiscover request asked about, as that version did."""
    data = _read(TODAY[0])
    del data["evidence"]["http"]["probe_email"]
    older = tmp_path / "before-probe-email.json"
    older.write_text(json.dumps(data), encoding="utf-8")
    world = load_world(older)
    assert world.probe_email is None and world.probe_user


# --- HasPrivateKey: a field added to the Exchange facts after the stored files were saved ------


@dataclass(frozen=True)
class CertificateKnowingItsKey(ExchangeCertificate):
    """ExchangeCertificate as a later version might have it: ``HasPrivateKey`` asked for too,
    loaded as unknown from a file saved before (the checks then judge it as not reported)."""

    has_private_key: bool | None = if_absent(None)


@dataclass(frozen=True)
class CertificateNeedingItsKey(ExchangeCertificate):
    """The same field, required: a check that cannot judge without it."""

    has_private_key: bool = field(kw_only=True)


HAS_PRIVATE_KEY = "evidence.exchange.servers.*.certificates[].has_private_key"


@pytest.fixture
def certificate_class(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Replaces ExchangeCertificate where the codec resolves it (the Exchange facts' hints)."""
    codec._hints.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    codec._hints.cache_clear()


def _certificates(path: Path) -> int:
    return sum(len(s["certificates"]) for s in _read(path)["evidence"]["exchange"]["servers"].values())


def test_a_field_added_with_if_absent_keeps_the_stored_files_loading_and_saving_again(
    certificate_class: pytest.MonkeyPatch,
) -> None:
    """The stored files load (the field at its default), save again as stored plus the field, and
    pass the removal test, which now covers the field too: no stored file is saved again."""
    certificate_class.setattr(facts_module, "ExchangeCertificate", CertificateKnowingItsKey)
    may = may_be_absent()
    assert if_absent_fields()[HAS_PRIVATE_KEY] is None and HAS_PRIVATE_KEY in may
    assert any(_certificates(path) for path in TODAY)
    for path in TODAY:
        world = load_world(path)
        certificates = [c for s in world.evidence.exchange.servers.values() for c in s.certificates]
        assert len(certificates) == _certificates(path)
        assert all(isinstance(c, CertificateKnowingItsKey) for c in certificates)
        assert {c.has_private_key for c in certificates} <= {None}  # type: ignore[attr-defined]
        assert _check_saved_again(path, may) == ({HAS_PRIVATE_KEY} if certificates else set())
        base = _base(path)
        patterns = sorted(p for p in set(_patterns(base)) if p[:2] == ("evidence", "exchange"))
        assert (HAS_PRIVATE_KEY in {_text(p) for p in patterns}) is bool(certificates)
        for pattern in patterns:
            _check_without(base, pattern, path.name, may)


def test_a_new_field_the_checks_need_refuses_a_file_saved_without_it(
    certificate_class: pytest.MonkeyPatch,
) -> None:
    """Required, and the schema left as it is: a file of this schema that lacks it is refused, naming
    the field. (The schema changes with such a field: test_replay.py simulates the procedure.)"""
    certificate_class.setattr(facts_module, "ExchangeCertificate", CertificateNeedingItsKey)
    for path in TODAY:
        if not _certificates(path):  # a file without certificates lacks nothing
            assert load_world(path).evidence.exchange.organisation.errors
            continue
        with pytest.raises(FactsFileError) as refused_file:
            load_world(path)
        assert_refused(str(refused_file.value), str(path), "has_private_key")
        assert re.search(
            r"the file lacks evidence\.exchange\.servers\[\"[^\"]+\"\]\.certificates\[0\]\.has_private_key,",
            str(refused_file.value),
        )


# --- other files this version cannot replay: the same one line -------------------------------


def _refused(data: dict[str, Any]) -> str:
    with pytest.raises(FactsFileError) as refusal:
        evidence_from_dict(data, source="f.json")
    assert "\n" not in str(refusal.value)
    return str(refusal.value)


def test_a_file_of_a_newer_schema_is_refused_saying_which_version_reads_it() -> None:
    newer = f"{SCHEMA.rsplit('/', 1)[0]}/{int(SCHEMA.rsplit('/', 1)[1]) + 1}"
    message = _refused({**_read(TODAY[0]), "schema": newer})
    assert message == (
        "f.json: cannot replay: this version does not read its schema (replay it with the version "
        f"that saved it) (the file's schema is {newer}, this version's {SCHEMA}); {GATHER_AGAIN}"
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
    data = _read(TODAY[0])
    change(data)
    message = _refused(data)
    assert message.startswith(f"f.json: cannot replay: {says}"), message
    assert message.endswith(f"(the file's schema is {SCHEMA}, this version's {SCHEMA}); {GATHER_AGAIN}")

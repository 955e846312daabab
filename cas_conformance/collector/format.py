"""The collector's text format, version 3: the section/key schema, and the record reader and
writer (docs/collector-format.md is the prose twin of this module; how one value is spelled is
values.py).

Everything the collector prints travels through a WinRS shell (opened with code page 65001, but a
console code page is a setting outside our control) and through PowerShell 2.0's
culture-dependent formatting, so the format is ASCII-only and culture-invariant:
values are percent-encoded UTF-8, numbers and dates have one fixed spelling. The reader is strict
(fail closed): anything it does not understand between the markers is a CollectorFormatError that
names the server, the section and the 1-based output line, never a silently dropped fact.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cas_conformance.collector.values import (
    ValueFormatError,
    decode_bool,
    decode_hex,
    decode_int,
    decode_list,
    decode_text,
    encode_list,
    encode_text,
    format_date,
    parse_date,
)
from cas_conformance.domain.facts import (
    CollectorMeta,
    EventRecord,
    PerformanceCounterCategory,
    RegistryValue,
    SectionError,
    ServiceState,
    WinHttpSettings,
)
from cas_conformance.errors import CollectorFormatError

FORMAT_VERSION = 3
#: versions this parser refuses with a reason of their own
OLD_VERSIONS = {
    2: "the snap-in collector of earlier versions (Exchange facts now come from Exchange remote PowerShell)"
}
BEGIN_MARKER = "#CASCONF BEGIN"
END_MARKER = "#CASCONF END"
_MARKER_PREFIX = "#CASCONF"
_BEGIN = re.compile(r"#CASCONF BEGIN ([0-9]{1,9})", re.ASCII)
_END = re.compile(r"#CASCONF END ([0-9]{1,9}) records=([0-9]{1,9})", re.ASCII)
_HEADER = re.compile(r"\[([a-z]+)\]", re.ASCII)
_KEY = re.compile(r"[A-Za-z]+", re.ASCII)


class FieldKind(Enum):
    """How one key's value is spelled in the text."""

    TEXT = "text"
    LIST = "list"
    BOOL = "bool"
    INT = "int"
    DATE = "date"
    HEX = "hex"
    SECTION = "section"


@dataclass(frozen=True)
class Field:
    key: str
    attr: str
    kind: FieldKind = FieldKind.TEXT


@dataclass(frozen=True)
class Section:
    """One record type: its ``[name]``, the dataclass it becomes, the ServerFacts attribute that
    holds it, and whether ServerFacts holds one (``single``) or a tuple of them."""

    name: str
    cls: type[Any]
    facts_attr: str
    fields: tuple[Field, ...]
    single: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)

    @functools.cached_property
    def by_key(self) -> dict[str, Field]:
        return {f.key: f for f in self.fields}


_L, _B, _I, _D = FieldKind.LIST, FieldKind.BOOL, FieldKind.INT, FieldKind.DATE

# Order = the order collect.ps1 prints records in (meta first, error records last).
# fmt: off
SECTIONS: tuple[Section, ...] = (
    Section("meta", CollectorMeta, "meta", (
        Field("FormatVersion", "format_version", _I), Field("ComputerName", "computer_name"),
        Field("PSVersion", "ps_version"), Field("CollectedAt", "collected_at", _D),
        Field("Culture", "culture"),
    ), single=True),
    Section("registry", RegistryValue, "registry", (
        Field("Key", "key"), Field("Name", "name"), Field("Present", "present", _B),
        Field("Value", "value"), Field("Kind", "kind"),
    )),
    Section("service", ServiceState, "services", (
        Field("Name", "name"), Field("Present", "present", _B), Field("State", "state"),
        Field("StartMode", "start_mode"),
    )),
    Section("perfcounter", PerformanceCounterCategory, "counter_categories", (
        Field("CategoryName", "name"), Field("Exists", "exists", _B),
    )),
    Section("event", EventRecord, "events", (
        Field("EventId", "event_id", _I), Field("Source", "source"),
        Field("TimeGenerated", "time_generated", _D), Field("Message", "message"),
    )),
    Section("winhttp", WinHttpSettings, "winhttp", (
        Field("RegistryHex", "registry_hex", FieldKind.HEX), Field("NetshText", "netsh_text"),
    ), single=True),
    Section("error", SectionError, "errors", (
        Field("Section", "section", FieldKind.SECTION), Field("Message", "message"),
    )),
)
# fmt: on
SECTION_BY_NAME: dict[str, Section] = {s.name: s for s in SECTIONS}
# The parts of the collector that can fail on their own and so be named by an [error] record.
ERROR_SECTIONS: frozenset[str] = frozenset(SECTION_BY_NAME) - {"meta", "error"}


def _decode_section(raw: str) -> str:
    name = decode_text(raw)
    if name not in ERROR_SECTIONS:
        raise ValueFormatError(f"[error] names unknown section {name!r}")
    return name


# Every server reports the same organisation-wide records, so the same raw values recur once
# per server: the decoders are pure, and a bounded cache makes a 200-server run decode each once.
_DECODERS: dict[FieldKind, Callable[[str], Any]] = {
    kind: functools.lru_cache(maxsize=16384)(decoder)
    for kind, decoder in {
        FieldKind.TEXT: decode_text,
        FieldKind.LIST: decode_list,
        FieldKind.BOOL: decode_bool,
        FieldKind.INT: decode_int,
        FieldKind.DATE: parse_date,
        FieldKind.HEX: decode_hex,
        FieldKind.SECTION: _decode_section,
    }.items()
}


def encode_value(kind: FieldKind, value: Any) -> str:
    """Spell one typed value; the inverse of the reader's decoding for that kind."""
    if kind is FieldKind.LIST:
        return encode_list(value)
    if kind is FieldKind.BOOL:
        return "True" if value else "False"
    if kind is FieldKind.INT:
        return str(int(value))
    if kind is FieldKind.DATE:
        return format_date(value)
    if kind is FieldKind.HEX:
        return decode_hex(value)
    if kind is FieldKind.SECTION and value not in ERROR_SECTIONS:
        raise ValueError(f"an [error] record cannot name section {value!r}")
    return encode_text(value)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    """One ``[section]`` record with its values decoded, keyed by dataclass attribute."""

    section: Section
    line: int
    values: dict[str, Any]
    #: The built fact, shared by every record with the same text (facts are immutable).
    built: list[Any] = field(default_factory=list, compare=False, repr=False)

    def build(self) -> Any:
        if not self.built:
            self.built.append(self.section.cls(**self.values))
        return self.built[0]


@dataclass(frozen=True)
class Block:
    """The text between the markers: the format version and the records, in output order."""

    version: int
    records: tuple[Record, ...]


class _RecordBuilder:
    def __init__(self, server: str, section: Section, line: int) -> None:
        self.server, self.section, self.line = server, section, line
        self.values: dict[str, Any] = {}
        self.fields = section.by_key

    def error(self, line: int, message: str) -> CollectorFormatError:
        return CollectorFormatError(self.server, self.section.name, line, message)

    def add(self, line: int, key: str, raw: str) -> None:
        field = self.fields.get(key)
        if field is None:
            raise self.error(line, f"unknown key {key!r} (known: {', '.join(self.section.keys)})")
        if field.attr in self.values:
            raise self.error(line, f"key {key!r} given twice")
        try:
            self.values[field.attr] = _DECODERS[field.kind](raw)
        except ValueFormatError as exc:
            raise self.error(line, f"{key}: {exc}") from None

    def finish(self) -> Record:
        missing = [f.key for f in self.section.fields if f.attr not in self.values]
        if missing:
            raise self.error(self.line, f"record lacks key(s) {', '.join(missing)}")
        return Record(self.section, self.line, self.values)


def read_block(text: str, server: str) -> Block:
    """Find the BEGIN..END block in *text* (anything around it is ignored) and decode its records.

    Raises CollectorFormatError for: no BEGIN, no END (truncated), an unknown version, a record
    count that does not match END, a second block, an unknown section or key, a missing or
    repeated key, a malformed line, a bad escape and a bad boolean, integer or date.
    """
    lines = text.split("\n")
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if lines[-1] == "":
        lines.pop()  # the text ends with a line end, not with an empty line
    # Record headers and markers: the block is read record by record, from one to the next.
    marks = [index for index, line in enumerate(lines) if line.startswith(_MARK_STARTS)]
    marks.append(len(lines))
    begin = None
    for position, index in enumerate(marks[:-1]):
        if lines[index].startswith(END_MARKER):
            raise CollectorFormatError(server, None, index + 1, "END marker before any BEGIN marker")
        if lines[index].startswith(BEGIN_MARKER):
            begin = position
            break
    if begin is None:
        raise CollectorFormatError(server, None, None, f"no '{BEGIN_MARKER}' marker: not collector output")
    first = marks[begin]
    version = _begin_version(lines[first], server, first + 1)
    if not any(lines[index].startswith(END_MARKER) for index in marks[begin + 1 : -1]):
        raise _truncated(lines, marks[begin + 1 : -1], server)
    if marks[begin + 1] > first + 1:  # a line between BEGIN and the first record
        raise _stray_line(lines[first + 1], server, None, first + 2)
    records: list[Record] = []
    pending: list[tuple[str, int]] = []  # records parsed here, to remember once the block is whole
    for position in range(begin + 1, len(marks) - 1):
        index, following = marks[position], marks[position + 1]
        line = lines[index]
        if line.startswith(END_MARKER):
            _check_end(line, server, index + 1, version, len(records))
            for later in marks[position + 1 : -1]:
                if lines[later].startswith(_MARKER_PREFIX):
                    raise CollectorFormatError(server, None, later + 1, "a second collector block after END")
            break
        header = _HEADER.fullmatch(line)
        if header is None:
            raise _stray_line(line, server, records[-1].section.name if records else None, index + 1)
        chunk = "\n".join(lines[index:following])
        cached = _RECORDS.get(chunk)
        if cached is not None:
            records.append(Record(cached.section, index + 1, cached.values, cached.built))
            continue
        spec = SECTION_BY_NAME.get(header.group(1))
        if spec is None:
            raise CollectorFormatError(
                server, header.group(1), index + 1, f"unknown section [{header.group(1)}]"
            )
        builder = _RecordBuilder(server, spec, index + 1)
        for number in range(index + 2, following + 1):
            entry = lines[number - 1]
            key, sep, value = entry.partition("=")
            if not sep or not _KEY.fullmatch(key):
                raise _stray_line(entry, server, spec.name, number)
            builder.add(number, key, value)
        pending.append((chunk, len(records)))
        records.append(builder.finish())
    if len(_RECORDS) > _RECORD_CACHE_LIMIT:
        _RECORDS.clear()
    for chunk, index in pending:
        _RECORDS[chunk] = records[index]
    return Block(version, tuple(records))


_MARK_STARTS = ("[", _MARKER_PREFIX)


def _stray_line(line: str, server: str, section: str | None, number: int) -> CollectorFormatError:
    """The error for a line that is neither a record header, a marker nor a key of a record."""
    key, sep, _ = line.partition("=")
    if sep and _KEY.fullmatch(key) and section is None:
        return CollectorFormatError(server, None, number, f"key {key!r} before any [section] line")
    return CollectorFormatError(server, section, number, f"malformed line {line[:60]!r}")


# Every server prints the same organisation-wide records (servers, databases, arrays): a record's
# exact text decodes the same everywhere, so a 200-server run decodes (and builds) each distinct
# record once.
_RECORDS: dict[str, Record] = {}
_RECORD_CACHE_LIMIT = 200_000


def _truncated(lines: list[str], marks: list[int], server: str) -> CollectorFormatError:
    """A block without END was cut off: say so before its last, possibly half, line is misread.
    *marks* are the lines after BEGIN that start like a record header or a marker."""
    headers = [
        m.group(1)
        for m in (_HEADER.fullmatch(lines[i]) for i in marks)
        if m and m.group(1) in SECTION_BY_NAME
    ]
    return CollectorFormatError(
        server,
        headers[-1] if headers else None,
        len(lines),
        f"no '{END_MARKER}' marker after BEGIN: the output is truncated (it ends at line {len(lines)})",
    )


def _begin_version(line: str, server: str, number: int) -> int:
    match = _BEGIN.fullmatch(line)
    if not match:
        raise CollectorFormatError(server, None, number, f"malformed BEGIN marker {line[:60]!r}")
    version = int(match.group(1))
    if version in OLD_VERSIONS:
        raise CollectorFormatError(
            server,
            None,
            number,
            f"format version {version} is {OLD_VERSIONS[version]}; this parser reads {FORMAT_VERSION}",
        )
    if version != FORMAT_VERSION:
        raise CollectorFormatError(
            server, None, number, f"unknown format version {version} (this parser reads {FORMAT_VERSION})"
        )
    return version


def _check_end(line: str, server: str, number: int, version: int, count: int) -> None:
    match = _END.fullmatch(line)
    if not match:
        raise CollectorFormatError(server, None, number, f"malformed END marker {line[:60]!r}")
    if int(match.group(1)) != version:
        raise CollectorFormatError(
            server, None, number, f"END marker says version {match.group(1)}, BEGIN said {version}"
        )
    if int(match.group(2)) != count:
        raise CollectorFormatError(
            server, None, number, f"END marker counts {match.group(2)} records, the block holds {count}"
        )


def write_block(records: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """The exact text collect.ps1 prints: BEGIN, each ``[section]`` with its already encoded
    ``Key=Value`` lines, END with the record count; LF line ends, a final LF."""
    lines = [f"{BEGIN_MARKER} {FORMAT_VERSION}"]
    for section, pairs in records:
        lines.append(f"[{section}]")
        lines.extend(f"{key}={value}" for key, value in pairs)
    lines.append(f"{END_MARKER} {FORMAT_VERSION} records={len(records)}")
    return "\n".join(lines) + "\n"

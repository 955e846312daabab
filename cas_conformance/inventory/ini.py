"""Ansible's INI inventory format, read into a :class:`Builder`, every error with its line.

``[group]`` (or ``[group:hosts]``) lists hosts, ``[group:vars]`` sets variables,
``[group:children]`` nests groups (declared by their own ``[g]``/``[g:children]`` section, before
or after); hosts before any section are ``ungrouped``. As Ansible's ini plugin: a host line is split
like a shell line (``#`` starts a comment at the start of a word), each value, on a host line or
in a ``[group:vars]`` section, is a Python literal when it reads as one (``5986`` is a number,
``True`` a boolean, ``'a b'`` a string) and the text after ``=`` otherwise; host ranges expand.
Error messages never repeat the text of a value, which may be a password.
"""

from __future__ import annotations

import re
import shlex

from cas_conformance.errors import InventoryError
from cas_conformance.inventory.build import Builder, Layer
from cas_conformance.inventory.host_entries import bracketed_ip, parse_host_entry
from cas_conformance.inventory.model import UNGROUPED
from cas_conformance.inventory.values import Origin, ini_value

SECTION_KINDS = ("hosts", "vars", "children")

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_HEADER = re.compile(r"\[([^\]]*)\]\s*(?:[#;].*)?")
_GROUP_NAME = re.compile(r"[\w.-]+")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHILD_LINE = re.compile(r"(\S+)\s*(?:[#;].*)?")


class IniReader:
    """One pass over the lines of one file, into *builder*."""

    def __init__(self, builder: Builder, path: str) -> None:
        self.builder = builder
        self.path = path
        self.group = UNGROUPED
        self.kind = "hosts"
        self.pending: dict[str, tuple[int, str]] = {}  # undeclared group -> (line, why)

    def fail(self, line: int, message: str) -> InventoryError:
        return InventoryError(self.path, line, message)

    def feed(self, number: int, raw: str) -> None:
        line = raw.strip()
        if not line or line[0] in "#;":
            return
        if line.startswith("[") and not bracketed_ip(line.split()[0]) and not _is_range_host(line):
            self.header(number, line)
        elif self.kind == "vars":
            self.vars_line(number, line)
        elif self.kind == "children":
            self.child_line(number, line)
        else:
            self.host_line(number, line)

    def header(self, number: int, line: str) -> None:
        match = _HEADER.fullmatch(line)
        if match is None:
            if "]" not in line:
                raise self.fail(number, "section header is not closed: expected ']'")
            raise self.fail(number, "unexpected text after the section header (only a # comment may follow)")
        name, colon, suffix = match[1].partition(":")
        kind = suffix if colon else "hosts"
        if not name:
            raise self.fail(number, "empty group name in section header")
        _check_group_name(name, number, self.path)
        if kind not in SECTION_KINDS:
            raise self.fail(
                number,
                f"unknown section suffix ':{suffix}' in [{name}:{suffix}]: expected :vars or :children",
            )
        known = name in self.builder.groups and self.builder.groups[name].declared
        self.builder.add_group(name, Origin(self.path, number), declared=kind != "vars")
        if kind != "vars":
            self.pending.pop(name, None)
        elif not known and name not in self.pending:
            self.pending[name] = (
                number,
                f"[{name}:vars] names a group that is never defined (no [{name}] or [{name}:children])",
            )
        self.group, self.kind = name, kind

    def vars_line(self, number: int, line: str) -> None:
        key, equals, rest = line.partition("=")
        key = key.strip()
        if not equals:
            raise self.fail(number, f"expected 'name = value' in section [{self.group}:vars]")
        _check_var_name(key, number, self.path)
        self.builder.set_group_var(self.group, key, ini_value(rest.strip()), Origin(self.path, number))

    def child_line(self, number: int, line: str) -> None:
        match = _CHILD_LINE.fullmatch(line)
        if match is None:
            raise self.fail(number, f"expected one group name per line in [{self.group}:children]")
        child = match[1]
        _check_group_name(child, number, self.path)
        known = child in self.builder.groups and self.builder.groups[child].declared
        self.builder.add_child(self.group, child, Origin(self.path, number))
        if not known and child not in self.pending:
            self.pending[child] = (
                number,
                f"[{self.group}:children] names group {child!r}, which is never defined (no [{child}] or [{child}:children])",
            )

    def host_line(self, number: int, line: str) -> None:
        try:
            tokens = shlex.split(line, comments=True, posix=True)
        except ValueError as exc:
            reason = "unbalanced quote" if "quotation" in str(exc) else "a trailing backslash escapes nothing"
            raise self.fail(number, f"cannot split the host line: {reason}") from None
        if not tokens:
            return
        names, port = parse_host_entry(tokens[0], self.path, number)
        origin = Origin(self.path, number)
        inline: Layer = {}
        for position, token in enumerate(tokens[1:], start=2):
            key, equals, value = token.partition("=")
            if not equals:
                raise self.fail(
                    number, f"expected key=value after the host name (word {position} has no '=')"
                )
            _check_var_name(key, number, self.path, word=position)
            if key in inline:
                raise self.fail(number, f"variable {key!r} is set twice on this line")
            inline[key] = (ini_value(value), origin)
        for name in names:
            self.builder.add_host(name, self.group, origin, dict(inline), port)

    def finish(self) -> None:
        for number, message in sorted(self.pending.values()):
            raise self.fail(number, message)


def _is_range_host(line: str) -> bool:
    """``[01:04].corp.example.com`` starts a host line (a range first), not a section header."""
    word = line.split()[0]
    close = word.find("]")
    return close >= 0 and close + 1 < len(word) and word[close + 1] not in "#; \t"


def _check_group_name(name: str, number: int, path: str) -> None:
    if not _GROUP_NAME.fullmatch(name):
        raise InventoryError(
            path, number, f"invalid group name {name!r}: use letters, digits, '_', '-' and '.'"
        )


def _check_var_name(key: str, number: int, path: str, word: int | None = None) -> None:
    if not _VAR_NAME.fullmatch(key):
        where = f" (word {word})" if word is not None else ""
        raise InventoryError(
            path,
            number,
            f"invalid variable name{where}: use letters, digits and '_', not starting with a digit",
        )


def read_ini(builder: Builder, text: str, path: str) -> None:
    """Add the INI inventory *text* (from *path*) to *builder*."""
    reader = IniReader(builder, path)
    for number, raw in enumerate(_LINE_BREAK.split(text.removeprefix("\ufeff")), start=1):
        reader.feed(number, raw)
    reader.finish()

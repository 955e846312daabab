"""What every check returns, and how a check is registered with the requirement it implements."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cas_conformance.domain.catalogue import Requirement, Subject
from cas_conformance.domain.visible import CONTROL, visible
from cas_conformance.errors import FactsUnavailable as FactsUnavailable

if TYPE_CHECKING:
    from cas_conformance.evidence.view import EvidenceView, Needs, ServerRecord


class NotApplicable(Exception):
    """The requirement does not apply to this subject (role, version, declared client mix)."""

    def __init__(self, reason: str, details: tuple[tuple[str, str], ...] = ()) -> None:
        self.reason = reason
        self.details = details  # extra report properties, as Finding.details
        super().__init__(reason)


@dataclass(frozen=True)
class Finding:
    """The verdict of one requirement on one object, with everything a failure must carry."""

    # The requirement's id: CheckSpec.judge fills it in (a check does not write it).
    requirement: str = field(default="", kw_only=True)
    server: str
    object: str
    passed: bool
    observed: str
    expected: str
    why: str = ""
    remediation: str = ""
    notes: tuple[str, ...] = field(default=())
    # Extra (name, value) report properties beyond the fields above (e.g. a drift comparison as
    # JSON): they travel with the test's report to results.json and the HTML report.
    details: tuple[tuple[str, str], ...] = field(default=())

    def message(self) -> str:
        """The finding as the terminal, JUnit and results.json show it: one line per field, every
        value from a server made visible (a control character in it is an escape, never raw)."""
        req = requirement(self.requirement)
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"{self.requirement} [{req.severity.value}] {req.title}: {verdict}"]
        if self.server:
            lines.append(f"  server:      {visible(self.server)}")
        lines.append(f"  object:      {visible(self.object)}")
        lines.append(f"  observed:    {visible(self.observed)}")
        lines.append(f"  expected:    {visible(self.expected)}")
        if self.why:
            lines.append(f"  why:         {visible(self.why)}")
        lines.extend(f"  note:        {visible(note)}" for note in self.notes)
        if self.remediation and not self.passed:
            lines.append("  remediation:")
            # the remediation's own lines stay lines; nothing else breaks one (a lone CR, U+2028)
            lines.extend(f"    {visible(line)}" for line in self.remediation.split("\n"))
        return "\n".join(lines)


@dataclass(frozen=True)
class Case:
    """One parametrized subject of a requirement: ``key`` finds it again in the facts, ``id`` is
    the readable test id, ``error`` marks a placeholder for facts that could not be gathered."""

    key: str
    id: str
    server: str = ""
    error: str | None = None


Evaluate = Callable[["EvidenceView", str], Finding]
Find = Callable[["EvidenceView"], list[Case]]


@dataclass(frozen=True)
class Enumerator:
    """Who a requirement is checked per: its Subject, and how to find that subject's cases in a run."""

    subject: Subject
    find: Find

    def __call__(self, world: EvidenceView) -> list[Case]:
        return self.find(world)


def enumerates(subject: Subject) -> Callable[[Find], Enumerator]:
    """Make *find* (world -> cases) the enumerator of *subject*."""

    def wrap(find: Find) -> Enumerator:
        return Enumerator(subject, find)

    return wrap


@dataclass(frozen=True)
class CheckSpec:
    requirement: Requirement
    cases: Enumerator
    evaluate: Evaluate

    @property
    def subject(self) -> Subject:
        return self.cases.subject

    @property
    def module(self) -> str:
        """The check module that declares the requirement (it places it in the catalogue's order)."""
        return self.evaluate.__module__

    def judge(self, world: EvidenceView, case: Case) -> Finding:
        """The finding on *case*, with the requirement's id; NotApplicable or FactsUnavailable (a
        placeholder for facts that could not be gathered is always the latter) when there is none."""
        if case.error:
            raise FactsUnavailable(f"{self.requirement.id} on {case.id}: {case.error}")
        return dataclasses.replace(self.evaluate(world, case.key), requirement=self.requirement.id)


#: Every check, in the order its module registered it; ``checks.CHECKS`` is the catalogue's order.
REGISTERED: dict[str, CheckSpec] = {}


def check(declared: Requirement, cases: Enumerator) -> Callable[[Evaluate], Evaluate]:
    """Register *evaluate* as the check of the *declared* requirement, over the *cases* of its subject."""

    def register(evaluate: Evaluate) -> Evaluate:
        if declared.id in REGISTERED:
            raise ValueError(f"{declared.id} is implemented twice")
        REGISTERED[declared.id] = CheckSpec(declared, cases, evaluate)
        return evaluate

    return register


def requirement(requirement_id: str) -> Requirement:
    try:
        return REGISTERED[requirement_id].requirement
    except KeyError:
        raise KeyError(f"unknown requirement id {requirement_id!r}") from None


#: What a check will read of the network evidence, from the Exchange/OS evidence: once for the
#: run (``needs``), and for each server as its facts arrive (``server_needs``, so its endpoints are
#: probed while slower servers are still being collected). gather fetches the union; a name a
#: check reads without declaring it is an error (FactsUnavailable), never a new query.
RunNeeds = Callable[["EvidenceView"], "Needs"]
ServerNeeds = Callable[["ServerRecord"], "Needs"]
NEEDS: list[RunNeeds] = []
SERVER_NEEDS: list[ServerNeeds] = []


def needs(declare: RunNeeds) -> RunNeeds:
    """Register *declare* (world -> Needs) beside the checks that read what it names."""
    NEEDS.append(declare)
    return declare


def server_needs(declare: ServerNeeds) -> ServerNeeds:
    """Register *declare* (one collected server's record -> Needs)."""
    SERVER_NEEDS.append(declare)
    return declare


# --- putting values from servers into copy-paste-ready commands --------------------------------
# Names come from servers, DNS and certificates, so they may hold anything. A remediation line is
# meant to be pasted: no value may end the line, close a quote or expand inside PowerShell.
_PS_SPECIAL = re.compile(r"[$`\"'\u2018\u2019\u201a\u201b\u201c\u201d\u201e]")
_PS_SINGLE_QUOTES = re.compile(r"(['\u2018\u2019\u201a\u201b])")
_PS_BARE = re.compile(r"[A-Za-z0-9._@\\-]+")
_CMD_SPECIAL = re.compile(r"[&|<>^\"%!]")


def one_line(value: str) -> str:
    """*value* for a remediation line: each control character (those ``domain.visible`` escapes,
    C1 controls included) replaced by ``?``, so no value can end the line or steer a terminal.
    Not an escape such as ``\\x1b``: pasted into a command that would name a different object."""
    return CONTROL.sub("?", value)


NAMED_AT_MOST = 10


def some_names(names: Sequence[str], at_most: int = NAMED_AT_MOST) -> str:
    """A list of names for a report line, bounded: the first *at_most* and how many more, so a
    line about the whole organisation stays the same size however large it is."""
    shown = ", ".join(names[:at_most])
    return shown + (f" and {len(names) - at_most} more" if len(names) > at_most else "")


def ps_string(value: str) -> str:
    """A PowerShell string literal: double quotes as the reference writes them when nothing in
    the value would expand, else a single-quoted literal (no expansion) with quotes doubled."""
    value = one_line(value)
    if not _PS_SPECIAL.search(value):
        return f'"{value}"'
    return "'" + _PS_SINGLE_QUOTES.sub(r"\1\1", value) + "'"


def ps_word(value: str) -> str:
    """A PowerShell argument: bare for plain names (``outlook.contoso.lab``), quoted otherwise."""
    value = one_line(value)
    return value if _PS_BARE.fullmatch(value) else ps_string(value)


def cmd_quoted(value: str) -> str:
    """Text for inside a double-quoted cmd.exe argument: no quote, no %VAR% expansion, no line end."""
    return re.sub(r"[\"%]", "_", one_line(value))


def cmd_word(value: str) -> str:
    """A cmd.exe argument (netsh, dnscmd, certutil): no line ends and no shell metacharacters."""
    return _CMD_SPECIAL.sub("_", one_line(value))

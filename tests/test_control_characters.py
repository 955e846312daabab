"""Control characters from servers never reach an output raw.

A server's name, bypass list, certificate subject or error text may hold terminal control
sequences. Each hostile string below goes through every field of a finding's message, every
warning, progress and collection-error line builder, the report properties and HTML cells, and
finally through two runs of the suite (the broken lab with them in a server's WinHTTP bypass list,
then a replay of its facts with them in a database name, a certificate subject and a server's
collection error): the terminal, junit.xml, results.json and report.html hold no control
character but the suite's own line breaks (and tabs), and show the escapes instead.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cas_conformance.checks import CHECKS, Finding
from cas_conformance.checks.base import cmd_quoted, cmd_word, one_line, ps_string, ps_word
from cas_conformance.domain.visible import json_document, json_visible, visible, visible_lines
from cas_conformance.errors import CasConformanceWarning
from cas_conformance.pytest_plugin.progress_lines import ProgressLines
from cas_conformance.pytest_plugin.state import RunState
from cas_conformance.pytest_plugin.unreachable import UNREACHABLE_PROPERTY, mark_unreachable
from cas_conformance.report.html_columns import table_row
from cas_conformance.report.html_summary import escape_environment
from cas_conformance.run.gather import GatherOptions, warn
from tests.report.suite_runs import BROKEN, run_suite

HOSTILE = {
    "clear screen": "a\x1b[2Jb",
    "OSC 8 link": "\x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\",
    "lone CR": "ok\rFORGED: passed",
    "newline": "ok\nFORGED: passed",
    "BEL": "ring\x07",
    "NUL": "nul\x00byte",
    "DEL": "del\x7fete",
    "backspace": "abc\x08\x08\x08xyz",
    "tab": "a\tb",
    "NEL (C1)": "next\x85line",
    "CSI (C1)": "\x9b31mred",
    "line separator": "one\u2028two",
    "paragraph separator": "one\u2029two",
}
# any control character; a raw output may keep the suite's own line breaks and tabs
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
RAW_IN_OUTPUT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
PRINTABLE = 'Zürich 東京 ☃ 👩\u200d💻 "quoted" \u2018single\u2019 «guillemets» C:\\path\\x1b <b>&amp;'

cases = pytest.mark.parametrize("hostile", list(HOSTILE.values()), ids=list(HOSTILE))


def no_control(text: str) -> None:
    found = CONTROL.findall(text)
    assert not found, (found, text)


# --- the function -------------------------------------------------------------------------------
@cases
def test_visible_escapes_every_control_character(hostile: str) -> None:
    shown = visible(hostile)
    no_control(shown)
    assert "\\" in shown
    assert visible(shown) == shown  # showing twice changes nothing


def test_visible_spells_each_escape() -> None:
    assert visible("\x1b[2J\r\n\t\x00\x7f\x85\x9b\u2028\u2029") == (
        "\\x1b[2J\\r\\n\\t\\x00\\x7f\\x85\\x9b\\u2028\\u2029"
    )


def test_printable_text_of_any_script_is_left_alone() -> None:
    assert visible(PRINTABLE) == PRINTABLE
    assert one_line(PRINTABLE) == PRINTABLE
    assert visible_lines(f"{PRINTABLE}\n{PRINTABLE}") == f"{PRINTABLE}\n{PRINTABLE}"


def test_visible_lines_keeps_the_suites_line_breaks_only() -> None:
    assert visible_lines("first\rforged\nsecond\u2028forged") == "first\\rforged\nsecond\\u2028forged"


@cases
def test_json_escapes_keep_the_data(hostile: str) -> None:
    document = {"name": hostile, "list": [hostile, PRINTABLE]}
    text = json_document(document, indent=1)
    assert not RAW_IN_OUTPUT.search(text)
    assert json.loads(text) == document
    property_value = json_visible(json.dumps(document, ensure_ascii=False))
    no_control(property_value)
    assert json.loads(property_value) == document


# --- the finding's message ------------------------------------------------------------------------
FIELDS = ("server", "object", "observed", "expected", "why", "notes", "remediation")


def _finding(**values: Any) -> Finding:
    plain: dict[str, Any] = {
        "server": "cas01.contoso.lab",
        "object": "DB01",
        "passed": False,
        "observed": "observed",
        "expected": "expected",
        "why": "why",
        "remediation": "first line\nsecond line",
        "notes": ("a note",),
    }
    plain.update(values)
    return dataclasses.replace(Finding(**plain), requirement=next(iter(CHECKS)))


@cases
@pytest.mark.parametrize("field", FIELDS)
def test_every_field_of_a_message_is_shown_visibly(field: str, hostile: str) -> None:
    if field == "remediation" and "\n" in hostile:
        pytest.skip("a remediation's line breaks are its own (its values pass through one_line)")
    value: Any = {"notes": (hostile,), "remediation": f"first line\nSet-Thing {hostile}"}.get(field, hostile)
    plain = _finding().message()
    message = _finding(**{field: value}).message()
    assert not RAW_IN_OUTPUT.search(message), message
    # no line forged: as many lines as with a plain value, a server's newline included
    assert message.count("\n") == plain.count("\n"), message
    assert visible(hostile) in message


def test_the_remediation_keeps_its_own_lines() -> None:
    message = _finding(remediation="one\ntwo\rforged").message()
    assert message.endswith("  remediation:\n    one\n    two\\rforged")


@cases
def test_a_remediation_value_never_holds_a_control_character(hostile: str) -> None:
    for quote in (one_line, ps_string, ps_word, cmd_quoted, cmd_word):
        no_control(quote(hostile))
    assert one_line(hostile) == CONTROL.sub("?", hostile)


# --- warning, progress and collection-error lines -------------------------------------------------
class _Terminal:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        self.lines.append(line)

    def section(self, title: str) -> None:
        self.lines.append(f"== {title} ==")


def _progress_lines(terminal: _Terminal) -> ProgressLines:
    config: Any = SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda name: terminal))
    return ProgressLines(config, total=2)


def _written(terminal: _Terminal) -> list[str]:
    """The terminal's lines as a user sees them (a line written may hold the suite's line breaks)."""
    return [line for written in terminal.lines for line in written.split("\n")]


@cases
def test_progress_and_warning_lines_show_control_characters(hostile: str) -> None:
    terminal = _Terminal()
    lines = _progress_lines(terminal)
    host = f"cas01{hostile}"
    lines.progress("collect-start", host, "")
    lines.progress("collect-start", "cas02", "")
    still = lines.still_collecting(0.0)
    assert still is not None
    lines.write_line(still)
    lines.progress("collect-done", host, f"1/2 0.5s error: {hostile}")
    lines.progress("collect-done", "cas02", f"2/2 0.5s {hostile}")
    lines.progress("warning", host, f"{host}: spoke {hostile}")
    lines.progress("warning", "cas02", f"cas02: spoke {hostile}")
    lines.progress("warning", "", f"no server: {hostile}")
    lines.progress("exchange-done", "", f"could not read: {hostile}")
    lines.progress("exchange-done", host, "")
    lines.progress("dns-done", "", hostile)
    lines.progress("gathered", "", f"1.0 s {hostile}")
    lines.write_line(f"cas-conformance: WARNING: unknown variable {hostile}")
    written = _written(terminal)
    assert len(written) == 13, written  # one line each: none forged, none lost
    for line in written:
        assert not CONTROL.search(line), line
    assert any(visible(hostile) in line for line in written)


@cases
def test_a_library_warning_shows_control_characters(hostile: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn(GatherOptions(environ={}), "cas01", f"cas01: {hostile}")
    assert [w.category for w in caught] == [CasConformanceWarning]
    no_control(str(caught[0].message))


@cases
def test_an_unreachable_servers_lines_show_control_characters(hostile: str) -> None:
    state: Any = SimpleNamespace(collection_failure=lambda server: f"{server}: {hostile}")
    item = SimpleNamespace(user_properties=[("server", "cas01.contoso.lab")])
    report = SimpleNamespace(user_properties=[])
    mark_unreachable(item, report, state)  # type: ignore[arg-type]
    (prop,) = report.user_properties
    assert prop[0] == UNREACHABLE_PROPERTY
    no_control(prop[1])
    # the "cas-conformance servers" section of the terminal summary
    failed = SimpleNamespace(facts=None, error=SimpleNamespace(reason=hostile), seconds=0.0)
    fake: Any = SimpleNamespace(
        _world=SimpleNamespace(servers={"cas01.contoso.lab": failed}),
        config=SimpleNamespace(),  # no workerinput: the controller
        collapsed=[],
        reports=None,
    )
    terminal = _Terminal()
    RunState.terminal_summary(fake, terminal)
    assert len(terminal.lines) == 2, terminal.lines
    for line in terminal.lines:
        no_control(line)


@cases
def test_the_html_reports_cells_show_control_characters(hostile: str) -> None:
    report = SimpleNamespace(
        nodeid="tests_cas/test_x.py::test_y[cas01]",
        when="call",
        user_properties=[(name, hostile) for name in ("requirement", "severity", "server", "object")]
        + [("remediation", f"first\n{hostile}")],
    )
    cells = ['<td class="col-result">Failed</td>', '<td class="col-testId">x</td>']
    table_row(report, cells)
    for cell in cells:  # the remediation's lines are its own (its values pass through one_line)
        no_control(cell.replace("\n", " ") if "col-remediation" in cell else cell)
    environment = escape_environment({f"key{hostile}": hostile, "nested": {hostile: hostile}})
    no_control(json.dumps(environment, ensure_ascii=False))


# --- two runs of the suite ------------------------------------------------------------------------
# Printable, then the C0 controls and DEL a WinHTTP bypass list (ASCII) can carry, one entry each.
BYPASS_ENTRIES = [value for value in HOSTILE.values() if value.isascii() and "\n" not in value]


def _scenario(tmp: Path) -> Path:
    """broken.toml with CAS01's WinHTTP bypass list holding the hostile entries (its fault, which
    would replace the list, taken out: the list still fails PROXY-02 and DRIFT-04)."""
    text = (BROKEN.parent / "broken.toml").read_text(encoding="utf-8")
    text = text.replace('    "winhttp-bypass-missing",\n', "")
    entries = ", ".join(json.dumps(entry) for entry in ["<local>", *BYPASS_ENTRIES])
    cas01 = 'winhttp_bypass = ["<local>", "*.contoso.lab"]\npush_notifications'
    assert cas01 in text
    scenario = tmp / "hostile.toml"
    scenario.write_text(text.replace(cas01, f"winhttp_bypass = [{entries}]\npush_notifications", 1), "utf-8")
    inventory = tmp / "hostile.ini"
    inventory.write_text(
        BROKEN.read_text(encoding="utf-8").replace(
            "lab_scenario = broken.toml", f"lab_scenario = {scenario}"
        ),
        encoding="utf-8",
    )
    return inventory


def _outputs(out: str, reports: Path) -> dict[str, str]:
    files = {name: (reports / name).read_text(encoding="utf-8") for name in ("junit.xml", "results.json")}
    files["report.html"] = (reports / "report.html").read_text(encoding="utf-8")
    return {"stdout": out, **files}


def _assert_nothing_raw(outputs: dict[str, str]) -> None:
    for name, text in outputs.items():
        found = sorted({f"U+{ord(c):04X}" for c in RAW_IN_OUTPUT.findall(text)})
        assert not found, f"{name} holds raw control characters {found}"


NOT_ASCII = "".join(HOSTILE[name] for name in ("NEL (C1)", "CSI (C1)", "line separator", "lone CR"))
REFUSED = f"refused {NOT_ASCII} {HOSTILE['OSC 8 link']}"


def _hostile_facts(saved: Path, replayed: Path) -> None:
    """The saved facts with C1 controls and line separators where JSON carries them: a database's
    name, a certificate's subject and the collection error of a server."""
    hostile = NOT_ASCII
    data = saved.read_text(encoding="utf-8")
    data = data.replace('"DB03"', json.dumps(f"DB03{hostile}"))
    data = data.replace("CN=CAS02", json.dumps(f"CN=CAS02{hostile}{HOSTILE['OSC 8 link']}")[1:-1])
    facts = json.loads(data)
    facts["evidence"]["os"]["mbx01.contoso.lab"] = {
        "error": {"channel": "winrm", "reason": REFUSED},
        "raw_output": None,
        "seconds": 1.0,
    }
    replayed.write_text(json.dumps(facts), encoding="utf-8")


def test_the_suites_outputs_hold_no_raw_control_character(pytester: pytest.Pytester) -> None:
    saved = pytester.path / "facts.json"
    lab = run_suite(pytester, "--save-facts", str(saved), inventory=_scenario(pytester.path), name="lab")
    assert lab.ret == 1, lab.out
    outputs = _outputs(lab.out, lab.reports)
    _assert_nothing_raw(outputs)
    # the bypass list reached the failure text (PROXY-02) and the drift comparison (DRIFT-04)
    assert "\\x1b[2J" in lab.out and "\\x07" in lab.out, lab.out
    assert lab.test("test_winhttp_bypass_list_covers_exchange_servers[cas01]")["outcome"] == "failed"

    replayed = pytester.path / "hostile-facts.json"
    _hostile_facts(saved, replayed)
    replay = run_suite(pytester, "--replay-facts", str(replayed), inventory=None, name="replay")
    assert replay.ret == 1, replay.out
    outputs = _outputs(replay.out, replay.reports)
    _assert_nothing_raw(outputs)
    # mbx01's error is one line in the terminal, with its escapes
    assert re.search(
        rf"^mbx01\.contoso\.lab: {re.escape(visible(REFUSED))}; [0-9]+ test", replay.out, re.M
    ), replay.out
    assert "\\u2028" in outputs["results.json"]  # a JSON escape, the database's name kept as data

"""A static review of collect.ps1, since no PowerShell runs here: PowerShell 2.0 only, balanced
brackets, and the records it prints agree key for key with the format that parses them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from cas_conformance.collector import format as fmt
from cas_conformance.collector import script, values

SOURCE = script.collector_body()


@dataclass(frozen=True)
class Token:
    kind: str  # "str" (content unquoted), "punct" or "word"
    text: str
    line: int


def _tokens(source: str) -> list[Token]:
    """Just enough of PowerShell's lexer: comments, single- and double-quoted strings, brackets."""
    tokens: list[Token] = []
    i, line = 0, 1
    while i < len(source):
        char = source[i]
        if char == "\n":
            line += 1
            i += 1
        elif char == "#":
            i = source.find("\n", i) if "\n" in source[i:] else len(source)
        elif char in "'\"":
            start, content = line, []
            i += 1
            while True:
                if i >= len(source):
                    raise AssertionError(f"unterminated string from line {start}")
                if char == '"' and source[i] == "`":
                    content.append(source[i : i + 2])
                    i += 2
                    continue
                if source[i] == char:
                    if source[i + 1 : i + 2] == char:
                        content.append(char)
                        i += 2
                        continue
                    i += 1
                    break
                line += source[i] == "\n"
                content.append(source[i])
                i += 1
            tokens.append(Token("str", "".join(content), start))
        elif char == "`":
            i += 2
        elif char in "(){}[],":
            tokens.append(Token("punct", char, line))
            i += 1
        elif char.isspace():
            i += 1
        else:
            match = re.compile(r"[^\s(){}\[\],'\"#`]+").match(source, i)
            assert match is not None
            tokens.append(Token("word", match.group(), line))
            i = match.end()
    return tokens


TOKENS = _tokens(SOURCE)
CODE = re.sub(r"#[^\n]*", "", SOURCE)  # good enough for the keyword checks: no '#' inside strings here


def _call_arguments(name: str) -> list[list[Token]]:
    """The tokens of each call of *name* up to the end of its last bracketed argument."""
    calls = []
    for index, token in enumerate(TOKENS):
        if token.kind == "word" and token.text == name and TOKENS[index - 1].text != "function":
            depth, end = 0, index + 1
            while end < len(TOKENS):
                t = TOKENS[end]
                if t.kind == "punct" and t.text in "({[":
                    depth += 1
                elif t.kind == "punct" and t.text in ")}]":
                    depth -= 1
                    if depth == 0 and TOKENS[end + 1].line != t.line:
                        break
                elif depth == 0 and t.line != token.line:
                    end -= 1
                    break
                end += 1
            calls.append(TOKENS[index + 1 : end + 1])
    return calls


def _balanced(text: str, start: int) -> str:
    """The text inside the parenthesis that opens at *start*."""
    depth, quote = 0, False
    for index in range(start, len(text)):
        char = text[index]
        if char == "'":
            quote = not quote
        elif not quote and char == "(":
            depth += 1
        elif not quote and char == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
    raise AssertionError(f"unbalanced parenthesis at {start}")


def _top_level_items(body: str) -> list[str]:
    items, depth, quote, current = [], 0, False, ""
    for char in body:
        if char == "'":
            quote = not quote
        elif not quote and char in "({[":
            depth += 1
        elif not quote and char in ")}]":
            depth -= 1
        if char == "," and depth == 0 and not quote:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return [*items, current.strip()]


def _record_keys() -> list[tuple[str, list[str]]]:
    """(section, keys in order) for every record the script writes (``A 'section' @(key, value ...)``)."""
    records = []
    for match in re.finditer(r"\bA '(\w+)' @\(", SOURCE):
        items = _top_level_items(_balanced(SOURCE, match.end() - 1))
        assert len(items) % 2 == 0, f"{match.group(1)}: keys and values must pair up"
        keys = items[0::2]
        assert all(re.fullmatch(r"'\w+'", k) for k in keys), keys
        records.append((match.group(1), [k.strip("'") for k in keys]))
    return records


def test_the_script_is_ascii_and_reasonably_small() -> None:
    assert SOURCE.isascii()
    assert "\t" not in SOURCE
    assert len(SOURCE) < 30_000


@pytest.mark.parametrize(
    "pattern",
    [
        r"ConvertTo-Json",
        r"ConvertFrom-Json",
        r"\[ordered\]",
        r"\[pscustomobject\]",
        r"\s-(not)?in\s",
        r"\.(ForEach|Where)\(",
        r"::new\(",
        r"Get-CimInstance",
        r"-ErrorAction\s+Ignore",
        r"\$PSItem",
        r"\$using:",
        r"\?\?",
        r"^\s*class\s",
        r"Set-StrictMode",
        r"-Raw\b",
    ],
)
def test_no_powershell_3_or_later_constructs(pattern: str) -> None:
    assert not re.search(pattern, CODE, re.IGNORECASE | re.MULTILINE), pattern


def test_brackets_balance() -> None:
    stack: list[Token] = []
    pairs = {")": "(", "}": "{", "]": "["}
    for token in TOKENS:
        if token.kind != "punct" or token.text == ",":
            continue
        if token.text in "({[":
            stack.append(token)
        else:
            assert stack and stack[-1].text == pairs[token.text], (
                f"unbalanced {token.text} at line {token.line}"
            )
            stack.pop()
    assert not stack, f"unclosed {stack[-1].text} from line {stack[-1].line}"


def test_every_record_prints_the_keys_of_its_section_in_format_order() -> None:
    records = _record_keys()
    printed = {section for section, _ in records}
    assert printed == set(fmt.SECTION_BY_NAME)
    for section, keys in records:
        assert keys == list(fmt.SECTION_BY_NAME[section].keys), section


def test_parts_name_sections_that_can_fail_and_run_in_render_order() -> None:
    parts = re.findall(r"\bT '(\w+)' '", SOURCE)
    assert set(parts) == fmt.ERROR_SECTIONS
    first_seen = list(dict.fromkeys(parts))
    assert first_seen == [s.name for s in fmt.SECTIONS if s.name in fmt.ERROR_SECTIONS]


def test_the_encoder_uses_the_same_literal_set_as_the_parser() -> None:
    match = re.search(r"-cmatch '\^(\[[^']+\]\*)\\z'", SOURCE)
    assert match is not None
    assert match.group(1) == values._LITERAL.pattern


def test_markers_and_parameters_match_the_python_side() -> None:
    assert f'"{fmt.BEGIN_MARKER} {fmt.FORMAT_VERSION}`n"' in SOURCE
    assert f'"{fmt.END_MARKER} {fmt.FORMAT_VERSION} records=' in SOURCE
    used = set(re.findall(r"\$P\.(\w+)", SOURCE))
    assert used == {key for key, _ in script._KEYS}


def test_no_snap_in_and_nothing_that_reaches_another_machine() -> None:
    """The Exchange snap-in's cmdlets read Active Directory as the WinRM logon: the double hop."""
    for word in (
        "Add-PSSnapin",
        "Get-Exchange",
        "Get-Mailbox",
        "-ComputerName",
        "Invoke-Command",
        "New-PSSession",
        "[Console]::In",
    ):
        assert word.lower() not in SOURCE.lower(), word
    assert SOURCE.rstrip().endswith("exit 0")


def test_top_of_script_sets_the_preferences() -> None:
    head = SOURCE[: SOURCE.index("function ")]
    for line in ("$ErrorActionPreference='Stop'", "$ProgressPreference='SilentlyContinue'"):
        assert line in head

"""Text from servers, shown as text: every control character as a visible escape.

Names, subjects, bypass lists and error texts come from servers, DNS and certificates, so they may
hold anything, terminal control sequences included: ``ESC [2J`` clears a screen, an OSC 8 sequence
hides a link, a lone carriage return or a line separator forges a line in a CI log. Whatever the
suite writes of such text (terminal lines, failure messages in JUnit and results.json, the HTML
report) goes through :func:`visible` first, one line of a message at a time: the line breaks the
suite writes itself stay line breaks, the ones inside a server's value become ``\\n``.

Printable text of any script, emoji and quotes is left as it is; only the C0 controls, DEL, the C1
controls (U+0080-U+009F; ECMA-48) and the Unicode line and paragraph separators (U+2028, U+2029)
are escaped.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Every character :func:`visible` escapes (and ``checks.base.one_line`` replaces).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """*text* with every control character written as its escape (``\\x1b``, ``\\r``, ``\\u2028``)."""
    return CONTROL.sub(lambda match: _escape(match.group()), text)


def visible_lines(text: str) -> str:
    """*text* written by the suite as several lines: each line made :func:`visible`, the ``\\n``
    between them kept."""
    return "\n".join(visible(line) for line in text.split("\n"))


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_visible(text: str) -> str:
    """*text*, a report property that may hold JSON (a drift comparison), with every control
    character as a JSON escape (``\\u009b``): still the same JSON, and never raw."""
    return CONTROL.sub(_json_escape, text)


# json.dumps escapes C0 in strings itself; with ensure_ascii=False it leaves these raw
_LEFT_RAW_BY_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def json_document(document: Any, indent: int | None = None) -> str:
    """*document* as JSON text, readable (non-ASCII letters as they are) but holding no raw
    control character: DEL, the C1 controls and U+2028/U+2029 as ``\\uXXXX`` escapes too."""
    return _LEFT_RAW_BY_JSON.sub(_json_escape, json.dumps(document, indent=indent, ensure_ascii=False))


__all__ = ["CONTROL", "json_document", "json_visible", "visible", "visible_lines"]

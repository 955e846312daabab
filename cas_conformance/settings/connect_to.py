"""The ``connect_to`` variable: comma-separated curl-style ``HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT``
rules, parsed into the :class:`~cas_conformance.channels.connect_to.ConnectToRule` values the
dialer applies (an empty HOST or PORT on the left matches any; an empty one on the right keeps the
original; IPv6 literals in square brackets).
"""

from __future__ import annotations

from cas_conformance.channels.connect_to import ConnectToRule


def _port(text: str, rule: str) -> int | None:
    if text == "":
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"connect_to rule {rule!r}: {text!r} is not a port number (1-65535)")
    return int(text)


def _host(text: str) -> str | None:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text or None


def _split(rule: str) -> list[str]:
    """Split on ':' outside square brackets (IPv6 literals are written ``[::1]``)."""
    parts: list[str] = []
    current = ""
    depth = 0
    for char in rule:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_connect_to(text: str) -> tuple[ConnectToRule, ...]:
    """Parse comma-separated rules; raise ValueError naming the bad rule."""
    rules: list[ConnectToRule] = []
    for raw in text.split(","):
        rule = raw.strip()
        if not rule:
            continue
        parts = _split(rule)
        if len(parts) != 4:
            raise ValueError(
                f"connect_to rule {rule!r} must have the form HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT"
            )
        host, port, to_host, to_port = parts
        rules.append(ConnectToRule(_host(host), _port(port, rule), _host(to_host), _port(to_port, rule)))
    return tuple(rules)

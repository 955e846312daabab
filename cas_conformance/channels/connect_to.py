"""curl-style ``--connect-to HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT`` rules.

A rule redirects the *connection* for a host and port to another host and/or port while every
protocol-level name (TLS SNI, certificate name check, HTTP ``Host``) keeps the original name. An
empty HOST or PORT on the left matches any; an empty one on the right keeps the original. The
first matching rule wins, as in curl. Useful in production (probe a new server under the
production name before the DNS cutover) and used by the lab to map well-known ports to
unprivileged ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectToRule:
    host: str | None
    port: int | None
    to_host: str | None
    to_port: int | None

    def matches(self, host: str, port: int) -> bool:
        if self.host is not None and self.host.lower().rstrip(".") != host.lower().rstrip("."):
            return False
        return self.port is None or self.port == port

    def __str__(self) -> str:
        def part(value: object) -> str:
            return "" if value is None else str(value)

        return ":".join(part(v) for v in (self.host, self.port, self.to_host, self.to_port))


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


def apply_connect_to(rules: Sequence[ConnectToRule], host: str, port: int) -> tuple[str, int]:
    """Return the (host, port) to connect to for *host*:*port*; the first matching rule wins."""
    for rule in rules:
        if rule.matches(host, port):
            return (rule.to_host or host, rule.to_port or port)
    return (host, port)

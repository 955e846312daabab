"""curl-style ``--connect-to HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT`` rules.

A rule redirects the *connection* for a host and port to another host and/or port while every
protocol-level name (TLS SNI, certificate name check, HTTP ``Host``) keeps the original name. An
empty HOST or PORT on the left matches any; an empty one on the right keeps the original. The
first matching rule wins, as in curl. Useful in production (probe a new server under the
production name before the DNS cutover) and used by the lab to map well-known ports to
unprivileged ones. The inventory's ``connect_to`` text is parsed into rules by
:mod:`cas_conformance.settings.connect_to`; the dialer applies them.
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


def apply_connect_to(rules: Sequence[ConnectToRule], host: str, port: int) -> tuple[str, int]:
    """Return the (host, port) to connect to for *host*:*port*; the first matching rule wins."""
    for rule in rules:
        if rule.matches(host, port):
            return (rule.to_host or host, rule.to_port or port)
    return (host, port)

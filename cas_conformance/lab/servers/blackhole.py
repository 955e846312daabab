"""A listener that accepts TCP connections and never answers: the network fault that only a
deadline catches (a firewall dropping replies, a hung service)."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from cas_conformance.lab.servers.listener import Listener


class BlackHole(Listener):
    kind = "black-hole"

    def __init__(self, addresses: Sequence[str], *, port: int = 0) -> None:
        super().__init__(list(addresses), port=port)
        self._held: list[socket.socket] = []

    def _accepted(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        self._held.append(conn)  # never read, never answered, closed on stop

    def _stopped(self) -> None:
        for sock in self._held:
            sock.close()

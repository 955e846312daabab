"""A listener that accepts TCP connections and never answers: the network fault that only a
deadline catches (a firewall dropping replies, a hung service)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

from cas_conformance.lab.net import bind_tcp


class BlackHole:
    def __init__(self, addresses: Sequence[str], *, port: int = 0) -> None:
        self.addresses = list(addresses)
        self._requested_port = port
        self.port = port
        self._listeners: list[socket.socket] = []
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> BlackHole:
        self._listeners = bind_tcp(self.addresses, self._requested_port)
        self.port = self._listeners[0].getsockname()[1]
        for listener in self._listeners:
            listener.settimeout(0.2)
            thread = threading.Thread(
                target=self._accept, args=(listener,), daemon=True, name="lab-blackhole"
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)  # never read, never answered, closed on stop

    def stop(self) -> None:
        self._stopping.set()
        for sock in self._listeners + self._held:
            sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def check(self) -> None:
        return None

    def __enter__(self) -> BlackHole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

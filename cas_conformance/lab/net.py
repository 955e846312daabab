"""Loopback-only addressing for the built-in lab, and the bounded thread join its servers stop with."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Sequence

from cas_conformance.errors import LabError

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def ensure_loopback(address: str) -> str:
    """Return *address* if it is in 127.0.0.0/8 (or ::1), else raise LabError."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as exc:
        raise LabError(f"the lab binds IP addresses only, not {address!r}") from exc
    if ip.version == 4 and ip in LOOPBACK:
        return address
    if ip.version == 6 and ip == ipaddress.ip_address("::1"):
        return address
    raise LabError(f"the lab binds loopback addresses only (127.0.0.0/8 or ::1), not {address}")


def bind_tcp(addresses: list[str], port: int = 0, backlog: int = 64) -> list[socket.socket]:
    """Bind one listening TCP socket per loopback address, all on the same port.

    With ``port=0`` the kernel picks a free port on the first address and every other address is
    bound to that same port, so one ``connect_to`` rule (``:443::PORT``) reaches every simulated
    host. If that port happens to be taken on a later address, the whole set is retried.
    """
    if not addresses:
        raise LabError("bind_tcp needs at least one address")
    for address in addresses:
        ensure_loopback(address)
    last_error: OSError | None = None
    for _attempt in range(20):
        sockets: list[socket.socket] = []
        chosen = port
        try:
            for address in addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, chosen))
                chosen = sock.getsockname()[1]
                sock.listen(backlog)
            return sockets
        except OSError as exc:
            last_error = exc
            for sock in sockets:
                sock.close()
            if port:
                break
    raise LabError(f"could not bind {', '.join(addresses)} on one port: {last_error}")


def join_within(threads: Sequence[threading.Thread], budget: float) -> None:
    """Join *threads* within one shared *budget* of seconds.

    Threads still running when the budget is spent are left to end on their own (the lab's threads are
    daemon threads): a stop must stay prompt whatever a handler is doing.
    """
    deadline = time.monotonic() + budget
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))

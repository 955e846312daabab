"""Loopback-only addressing for the built-in lab, and the bounded thread join its servers stop with."""

from __future__ import annotations

import ipaddress
import random
import resource
import socket
import threading
import time
from collections.abc import Sequence

from cas_conformance.errors import LabError

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
HOSTS_PER_BLOCK = 254  # .1 to .254 of each 127.X.Y.0/24
FIRST_SECOND_OCTET = 16  # 127.0.X.Y and below are left to other loopback users (127.0.0.1, 127.0.1.1)
MAX_LOOPBACK_ADDRESSES = HOSTS_PER_BLOCK * 256 * 16  # at most 16 second octets' worth (over 1 million)


def loopback_block(count: int, rng: random.Random | None = None) -> list[str]:
    """*count* distinct loopback addresses in consecutive /24 blocks of 127.0.0.0/8, from a random start.

    Hosts .1 to .254 of each ``127.X.Y.0/24`` are used in order, then the next /24 (``Y + 1``,
    carrying into ``X``), so a lab of 2,000 servers spans eight /24s. The start is random per lab
    (second octet 16 and up, third octet any), so labs run side by side; every address is checked
    by :func:`ensure_loopback`. Linux routes the whole of 127.0.0.0/8 to the loopback interface.
    """
    if not 1 <= count <= MAX_LOOPBACK_ADDRESSES:
        raise LabError(f"the lab hands out 1 to {MAX_LOOPBACK_ADDRESSES} loopback addresses, not {count}")
    rng = rng or random.Random()
    blocks = -(-count // HOSTS_PER_BLOCK)
    # first /24 index (X * 256 + Y), chosen so the last block still has X <= 255
    last_start = 256 * 256 - blocks
    start = rng.randint(FIRST_SECOND_OCTET * 256, last_start)
    result = []
    for index in range(count):
        block, host = divmod(index, HOSTS_PER_BLOCK)
        second, third = divmod(start + block, 256)
        result.append(ensure_loopback(f"127.{second}.{third}.{host + 1}"))
    return result


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


def raise_open_files_limit(needed: int) -> int:
    """Raise this process's soft limit on open files to its hard limit when *needed* exceeds it.

    Each simulated server holds five listening sockets (``Lab.open_files``), so a
    lab of 2,000 servers needs over 10,000 descriptors, well past the usual soft limit of 1,024; the
    hard limit (``ulimit -Hn``) is what an unprivileged process may raise it to. Returns the soft
    limit now in force; LabError when even the hard limit is below *needed*.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if needed <= soft or soft == resource.RLIM_INFINITY:
        return soft
    if hard != resource.RLIM_INFINITY and needed > hard:
        raise LabError(
            f"the lab needs about {needed} open files, over this process's hard limit of {hard} "
            "(ulimit -Hn): raise it, or simulate fewer servers"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


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

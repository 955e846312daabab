"""Loopback-only addressing for the built-in lab."""

from __future__ import annotations

import ipaddress

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

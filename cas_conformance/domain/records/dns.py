"""The record of one DNS question: what one resolver said about one name and type."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATUSES = ("NOERROR", "NXDOMAIN", "NODATA", "SERVFAIL", "TIMEOUT", "REFUSED", "ERROR")

#: a DNS question: (name in lower case without the final dot, record type in upper case)
Question = tuple[str, str]


def dns_name(name: str) -> str:
    """*name* as questions and answers spell it: lower case, no final dot."""
    return name.strip().lower().rstrip(".")


def question(name: str, rdtype: str) -> Question:
    """The question for *name* and *rdtype*, however they are written (the resolver's cache key)."""
    return (dns_name(name), rdtype.upper())


def is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class DnsAnswer:
    """What one resolver said about one name and type.

    ``records`` are IPs for A, ``"10 mx.contoso.lab"`` for MX and targets for CNAME; names carry
    no trailing dot. ``cname_chain`` lists the CNAME targets followed from ``name`` to the records.
    """

    name: str
    rdtype: str
    status: str
    records: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    resolver: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the name has records of the type asked (NOERROR with an answer)."""
        return self.status == "NOERROR" and bool(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rdtype": self.rdtype,
            "status": self.status,
            "records": list(self.records),
            "cname_chain": list(self.cname_chain),
            "resolver": self.resolver,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DnsAnswer:
        """A saved answer. What the checks judge by (name, type, status, records) is required;
        what a finding only shows (the CNAME chain, the resolver, the detail) may be absent
        (docs/facts-files.md)."""
        status = str(data["status"])
        if status not in STATUSES:
            raise ValueError(f"saved DNS answer for {data.get('name')!r} has unknown status {status!r}")
        return cls(
            name=str(data["name"]),
            rdtype=str(data["rdtype"]),
            status=status,
            records=tuple(str(r) for r in data["records"]),
            cname_chain=tuple(str(c) for c in data.get("cname_chain", ())),
            resolver=str(data.get("resolver", "")),
            detail=str(data.get("detail", "")),
        )

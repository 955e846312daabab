"""DNS as the suite sees it: one question, one recorded answer, asked once per run.

Every DNS outcome (an answer, NXDOMAIN, NODATA, SERVFAIL, REFUSED, no answer in time) is a fact a
check judges, so :meth:`Resolver.resolve` returns a :class:`DnsAnswer` for each of them instead of
raising (the record itself, plain data, is :mod:`cas_conformance.domain.records.dns`'s; it is re-exported
here). Answers are cached per run and a question is sent once even when many test threads ask at
the same moment (single-flight), so the suite's load on a production resolver stays one query per
name and type. A replay reads the saved answers from the evidence (:mod:`cas_conformance.evidence.dns`),
not through a resolver.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from cas_conformance.domain.records.dns import STATUSES, DnsAnswer, dns_name, is_ip_literal, question

__all__ = ["STATUSES", "SYSTEM", "DnsAnswer", "Resolver", "format_server", "is_ip_literal"]

SYSTEM = "system"
_EDNS_PAYLOAD = 1232
_MAX_CHASE = 8


def format_server(server: tuple[str, int]) -> str:
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _record_text(rdata: Any) -> str:
    if rdata.rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True).lower()}"
    if rdata.rdtype == dns.rdatatype.CNAME:
        return str(rdata.target.to_text(omit_final_dot=True).lower())
    return str(rdata.to_text())


def _read_answer(
    name: str, rdtype: str, response: dns.message.Message
) -> tuple[str, tuple[str, ...], tuple[str, ...], bool]:
    """Follow the CNAME chain in *response*: (status, records, chain, chain left unresolved)."""
    rcode = response.rcode()
    rdtype_value = dns.rdatatype.from_text(rdtype)
    by_name: dict[tuple[str, int], Any] = {}
    for rrset in response.answer:
        by_name[(dns_name(rrset.name.to_text()), rrset.rdtype)] = rrset
    current = name
    chain: list[str] = []
    while rdtype_value != dns.rdatatype.CNAME and len(chain) <= _MAX_CHASE:
        cname = by_name.get((current, dns.rdatatype.CNAME))
        if cname is None:
            break
        current = dns_name(cname[0].target.to_text())
        chain.append(current)
    found = by_name.get((current, rdtype_value))
    records = tuple(_record_text(r) for r in found) if found is not None else ()
    # servers rotate record order; a sorted answer keeps saved facts and the dialer's pick stable
    if rdtype_value == dns.rdatatype.MX:
        records = tuple(sorted(records, key=lambda r: (int(r.split()[0]), r.split()[1])))
    elif rdtype_value in (dns.rdatatype.A, dns.rdatatype.AAAA):
        records = tuple(sorted(records, key=ipaddress.ip_address))
    if rcode == dns.rcode.NOERROR:
        unresolved = bool(chain) and not records and not response.authority
        return ("NOERROR" if records else "NODATA"), records, tuple(chain), unresolved
    if rcode in (dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL, dns.rcode.REFUSED):
        return dns.rcode.to_text(rcode), (), tuple(chain), False
    return "ERROR", (), tuple(chain), False


class Resolver:
    """Ask DNS servers (or the system's, from /etc/resolv.conf) with a per-run single-flight cache.

    ``timeout`` bounds each question in total, across every server, TCP retry and CNAME chase.
    """

    def __init__(self, servers: Sequence[tuple[str, int]] | None, *, timeout: float) -> None:
        self._servers = tuple(servers) if servers is not None else None
        self.timeout = timeout
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Future[DnsAnswer]] = {}

    @property
    def label(self) -> str:
        """How answers name this resolver: ``"ip:port"`` for one server, else a description."""
        if self._servers is None:
            return SYSTEM
        return ", ".join(format_server(s) for s in self._servers)

    def answers(self) -> list[DnsAnswer]:
        """Every answer obtained so far (in the order first asked), for saving."""
        with self._lock:
            futures = list(self._cache.values())
        return [f.result() for f in futures if f.done() and f.exception() is None]

    def resolve(self, name: str, rdtype: str) -> DnsAnswer:
        key = question(name, rdtype)
        with self._lock:
            future = self._cache.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._cache[key] = future
        if not owner:
            return future.result()  # another thread is asking (or asked) the same question
        try:
            answer = self._ask(key[0], key[1], time.monotonic() + self.timeout, 0)
        except BaseException as exc:
            with self._lock:
                del self._cache[key]  # a bug, not a DNS outcome: let a later asker try again
            future.set_exception(exc)
            raise
        future.set_result(answer)
        return answer

    def addresses(self, name: str) -> tuple[str, ...]:
        """The IPv4 addresses of *name* (an IP literal is its own address); () if none."""
        if is_ip_literal(name.strip("[]")):
            return (name.strip("[]"),)
        answer = self.resolve(name, "A")
        return answer.records if answer.ok else ()

    # -- the network -------------------------------------------------------------------------------
    def _server_list(self) -> tuple[list[tuple[str, int]], str | None]:
        if self._servers is not None:
            return list(self._servers), None
        try:
            system = dns.resolver.Resolver(configure=True)
        except Exception as exc:
            return [], f"no system resolvers: {exc}"
        servers: list[tuple[str, int]] = []
        for ns in system.nameservers:
            if isinstance(ns, str):
                servers.append((ns, system.port))
            elif isinstance(ns, dns.nameserver.Do53Nameserver):
                servers.append((ns.address, ns.port))
        return servers, None if servers else "no system resolvers in /etc/resolv.conf"

    def _ask(self, name: str, rdtype: str, deadline: float, depth: int) -> DnsAnswer:
        servers, problem = self._server_list()
        if problem is not None or not servers:
            detail = problem or "no DNS servers configured"
            return DnsAnswer(name, rdtype, "ERROR", resolver=self.label, detail=detail)
        attempts: list[str] = []
        answer: DnsAnswer | None = None
        unresolved = False
        for index, server in enumerate(servers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            share = remaining / (len(servers) - index)  # later servers keep their fair share
            answer, unresolved = self._ask_server(name, rdtype, server, share)
            attempts.append(f"{format_server(server)}: {answer.detail or answer.status}")
            if answer.status in ("NOERROR", "NODATA", "NXDOMAIN"):
                break
        if answer is None:
            return DnsAnswer(name, rdtype, "TIMEOUT", resolver=self.label, detail="no time left to ask")
        if len(attempts) > 1 and answer.status not in ("NOERROR", "NODATA", "NXDOMAIN"):
            answer = replace(answer, detail="; ".join(attempts))
        if self._servers is None:
            answer = replace(answer, resolver=SYSTEM, detail=answer.detail or f"via {answer.resolver}")
        if unresolved:
            return self._chase(answer, deadline, depth)
        return answer

    def _chase(self, partial: DnsAnswer, deadline: float, depth: int) -> DnsAnswer:
        """A stub got a CNAME into another zone: ask for the target, as a recursive resolver would."""
        if depth >= _MAX_CHASE:
            return replace(partial, status="ERROR", detail="CNAME chain too long")
        target = self._ask(partial.cname_chain[-1], partial.rdtype, deadline, depth + 1)
        return replace(target, name=partial.name, cname_chain=partial.cname_chain + target.cname_chain)

    def _ask_server(
        self, name: str, rdtype: str, server: tuple[str, int], timeout: float
    ) -> tuple[DnsAnswer, bool]:
        """Ask one server (UDP, then TCP if truncated): the answer, and whether a CNAME needs chasing."""
        where = format_server(server)
        started = time.monotonic()
        query = dns.message.make_query(name + ".", rdtype, use_edns=0, payload=_EDNS_PAYLOAD)
        query.flags |= dns.flags.RD
        try:
            response = dns.query.udp(
                query, server[0], timeout=timeout, port=server[1], ignore_unexpected=True
            )
            if response.flags & dns.flags.TC:
                left = timeout - (time.monotonic() - started)
                # a zero or negative timeout makes dnspython time out at once, as it should
                response = dns.query.tcp(query, server[0], timeout=max(left, 0.0), port=server[1])
        except dns.exception.Timeout:
            detail = f"no answer from {where} within {timeout:.3g} s"
            return DnsAnswer(name, rdtype, "TIMEOUT", resolver=where, detail=detail), False
        except (OSError, dns.exception.DNSException) as exc:
            detail = f"{where}: {type(exc).__name__}: {exc}"
            return DnsAnswer(name, rdtype, "ERROR", resolver=where, detail=detail), False
        status, records, chain, unresolved = _read_answer(name, rdtype, response)
        if status == "NOERROR":
            detail = ""
        elif status == "ERROR":
            detail = f"{dns.rcode.to_text(response.rcode())} from {where}"
        else:
            detail = f"{status} from {where}"
        return DnsAnswer(name, rdtype, status, records, chain, where, detail), unresolved

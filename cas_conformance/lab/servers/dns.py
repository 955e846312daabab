"""An authoritative DNS server for the lab, over UDP and TCP on one loopback address and port.

Real resolvers (dnspython, the suite's own ``Resolver``) query it exactly as they would query an
Exchange organisation's DNS, so every DNS outcome a check must judge - an answer, a CNAME chain,
NXDOMAIN, NODATA, SERVFAIL, a resolver that never answers - can be produced on demand. The zone
can be edited and faults switched on while the server runs, so one server serves a whole test
session and each test sets up only what it needs.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from cas_conformance.errors import LabError
from cas_conformance.lab.servers.listener import Connection, Listener
from cas_conformance.lab.servers.net import bind_tcp

RecordType = Literal["A", "CNAME", "MX"]
Fault = Literal["servfail", "timeout", "nxdomain"]
FAULTS: frozenset[str] = frozenset({"servfail", "timeout", "nxdomain"})
_MAX_CHAIN = 16
_UDP_LIMIT_WITHOUT_EDNS = 512


def _norm(name: str) -> str:
    return name.strip().lower().rstrip(".")


def _dns_name(name: str) -> dns.name.Name:
    return dns.name.from_text(name + ".")


@dataclass
class _Lookup:
    """What the zone says about one question: an rcode and the sections to send."""

    rcode: dns.rcode.Rcode
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    drop: bool = False


class Zone:
    """Records of the lab's DNS domains; every method is thread-safe.

    ``domains`` are the names the server is authoritative for (``contoso.lab`` covers every name
    below it). A question outside them is REFUSED, as an authoritative-only server does.
    """

    def __init__(self, domains: Iterable[str], *, ttl: int = 300) -> None:
        self.domains = frozenset(_norm(d) for d in domains)
        if not self.domains:
            raise LabError("a Zone needs at least one domain")
        self.ttl = ttl
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, list[dns.rdata.Rdata]]] = {}
        self._faults: dict[str, Fault] = {}

    def domain_of(self, name: str) -> str | None:
        """The most specific domain of the zone that holds *name*, or None."""
        name = _norm(name)
        matches = [d for d in self.domains if name == d or name.endswith("." + d)]
        return max(matches, key=len) if matches else None

    def _require_inside(self, name: str) -> str:
        name = _norm(name)
        if self.domain_of(name) is None:
            raise LabError(f"{name} is outside the zone's domains ({', '.join(sorted(self.domains))})")
        return name

    def add(self, name: str, rdtype: RecordType, value: str) -> None:
        """Add one record, e.g. ``add("mail.contoso.lab", "MX", "10 mx.contoso.lab")``."""
        name = self._require_inside(name)
        rdtype_text = rdtype.upper()
        if rdtype_text not in ("A", "CNAME", "MX"):
            raise LabError(f"the lab zone holds A, CNAME and MX records, not {rdtype}")
        if rdtype_text == "A":
            try:
                ipaddress.IPv4Address(value.strip())
            except ValueError as exc:
                raise LabError(f"A record for {name}: {value!r} is not an IPv4 address") from exc
        try:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, rdtype_text, value.strip(), origin=dns.name.root, relativize=False
            )
        except Exception as exc:
            raise LabError(f"{rdtype_text} record for {name}: bad value {value!r}: {exc}") from exc
        with self._lock:
            existing = self._records.setdefault(name, {})
            others = [t for t in existing if t != rdtype_text]
            if rdtype_text == "CNAME" and (others or existing.get("CNAME")):
                raise LabError(f"{name} already has records; a CNAME must be the only record of a name")
            if rdtype_text != "CNAME" and "CNAME" in existing:
                raise LabError(f"{name} is a CNAME; it cannot also hold {rdtype_text} records")
            existing.setdefault(rdtype_text, []).append(rdata)

    def remove(self, name: str, rdtype: RecordType | None = None) -> None:
        """Remove every record of *name* (of one type, when given)."""
        name = _norm(name)
        with self._lock:
            if rdtype is None:
                self._records.pop(name, None)
                return
            types = self._records.get(name, {})
            types.pop(rdtype.upper(), None)
            if not types:
                self._records.pop(name, None)

    def set_fault(self, name: str, fault: Fault | None) -> None:
        """Make every question for *name* fail this way (None clears the fault)."""
        name = self._require_inside(name)
        with self._lock:
            if fault is None:
                self._faults.pop(name, None)
            elif fault in FAULTS:
                self._faults[name] = fault
            else:
                raise LabError(f"unknown DNS fault {fault!r}; expected one of {', '.join(sorted(FAULTS))}")

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _exists(self, name: str) -> bool:
        """A name exists if it holds records, is a zone apex, or has names below it (RFC 8020)."""
        if name in self._records or name in self.domains:
            return True
        return any(other.endswith("." + name) for other in self._records)

    def _soa(self, domain: str) -> dns.rrset.RRset:
        text = f"ns.{domain}. hostmaster.{domain}. 1 3600 600 86400 {self.ttl}"
        return dns.rrset.from_text(_dns_name(domain), self.ttl, "IN", "SOA", text)

    def _rrset(self, name: str, rdtype: str) -> dns.rrset.RRset | None:
        rdatas = self._records.get(name, {}).get(rdtype)
        if not rdatas:
            return None
        return dns.rrset.from_rdata_list(_dns_name(name), self.ttl, rdatas)

    def lookup(self, qname: str, rdtype: str) -> _Lookup:
        """Answer one question as an authoritative server does."""
        name = _norm(qname)
        rdtype = rdtype.upper()
        with self._lock:
            domain = self.domain_of(name)
            if domain is None:
                return _Lookup(dns.rcode.REFUSED)
            result = _Lookup(dns.rcode.NOERROR)
            for _step in range(_MAX_CHAIN):
                fault = self._faults.get(name)
                if fault == "timeout":
                    return _Lookup(dns.rcode.SERVFAIL, drop=True)
                if fault == "servfail":
                    return _Lookup(dns.rcode.SERVFAIL)
                current_domain = self.domain_of(name)
                if current_domain is None:  # a CNAME left the zone: the resolver follows it elsewhere
                    return result
                if fault == "nxdomain" or not self._exists(name):
                    result.rcode = dns.rcode.NXDOMAIN
                    result.authority = [self._soa(current_domain)]
                    return result
                if rdtype == "SOA" and name in self.domains:
                    result.answer.append(self._soa(name))
                    return result
                wanted = self._rrset(name, rdtype)
                if wanted is not None:
                    result.answer.append(wanted)
                    return result
                cname = self._rrset(name, "CNAME")
                if cname is None:
                    result.authority = [self._soa(current_domain)]
                    return result
                result.answer.append(cname)
                name = _norm(cname[0].target.to_text())
            return _Lookup(dns.rcode.SERVFAIL)  # a CNAME loop


class DnsServer(Listener):
    """Serve a :class:`Zone` over UDP and TCP on ``(address, port)``.

    ``stats`` counts questions received as ``"name TYPE"``; ``transports`` counts them by
    ``"udp"``/``"tcp"``. ``hold()`` keeps answers back (the questions are still received and
    counted) until ``release()``, so a test can make many clients ask at the same moment.
    """

    kind = "DNS"

    def __init__(self, address: str, zone: Zone, *, port: int = 0) -> None:
        super().__init__([address], port=port)
        self.address = self.addresses[0]
        self.zone = zone
        self._stats: Counter[str] = Counter()
        self._transports: Counter[str] = Counter()
        self._stats_changed = threading.Condition()
        self._held: list[Callable[[], None]] | None = None
        self._hold_lock = threading.Lock()
        self._udp: socket.socket | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def _bind(self) -> list[socket.socket]:
        """TCP first (its port is the server's), then UDP on the same port."""
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        last: OSError | None = None
        for _attempt in range(20):
            tcp = bind_tcp([self.address], self._requested_port)[0]
            port = tcp.getsockname()[1]
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((self.address, port))
            except OSError as exc:  # the UDP twin of the kernel's TCP pick is taken: pick again
                last = exc
                udp.close()
                tcp.close()
                if self._requested_port:
                    break
                continue
            self._udp = udp
            return [tcp, udp]
        raise LabError(f"could not bind DNS on {self.address} UDP+TCP: {last}")

    def _readable(self, sock: socket.socket) -> None:
        if sock is self._udp:
            self._guard(self._answer_udp)
        else:
            super()._readable(sock)

    # -- observation -----------------------------------------------------------------------------
    @property
    def stats(self) -> Counter[str]:
        """A snapshot of the questions received, ``"name TYPE"`` -> count."""
        with self._stats_changed:
            return Counter(self._stats)

    @property
    def transports(self) -> Counter[str]:
        with self._stats_changed:
            return Counter(self._transports)

    def reset_stats(self) -> None:
        with self._stats_changed:
            self._stats.clear()
            self._transports.clear()

    def wait_for_queries(self, count: int, timeout: float) -> bool:
        """Wait until at least *count* questions were received in total; False on timeout."""
        with self._stats_changed:
            return self._stats_changed.wait_for(lambda: self._stats.total() >= count, timeout)

    def hold(self) -> None:
        with self._hold_lock:
            if self._held is None:
                self._held = []

    def release(self) -> None:
        with self._hold_lock:
            held, self._held = self._held or [], None
        for send in held:
            self._guard(send)

    # -- serving ---------------------------------------------------------------------------------
    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except OSError:
            pass  # the client went away before its answer: its problem, not the server's
        except Exception as exc:
            self.record_error(exc)

    def _answer_udp(self) -> None:
        udp = self._udp
        assert udp is not None
        wire, peer = udp.recvfrom(65535)
        response = self._respond(wire, "udp")
        if response is not None:
            query, message = response
            limit = _UDP_LIMIT_WITHOUT_EDNS if query.edns < 0 else max(_UDP_LIMIT_WITHOUT_EDNS, query.payload)
            data = message.to_wire(max_size=65535)
            if len(data) > limit:
                message.flags |= dns.flags.TC
                for section in (message.answer, message.authority, message.additional):
                    section.clear()
                data = message.to_wire(max_size=65535)

            def send() -> None:
                udp.sendto(data, peer)

            self._send_or_hold(send)

    def _serve_connection(self, connection: Connection) -> None:
        conn = connection.sock
        while not self._stopping.is_set():
            header = _recv_exact(conn, 2)
            if header is None:
                return
            wire = _recv_exact(conn, struct.unpack("!H", header)[0])
            if wire is None:
                return
            response = self._respond(wire, "tcp")
            if response is not None:
                data = response[1].to_wire(max_size=65535)
                self._send_or_hold(functools.partial(conn.sendall, struct.pack("!H", len(data)) + data))

    def _send_or_hold(self, send: Callable[[], None]) -> None:
        with self._hold_lock:
            if self._held is not None:
                self._held.append(send)
                return
        send()

    def _respond(self, wire: bytes, transport: str) -> tuple[dns.message.Message, dns.message.Message] | None:
        """Parse one query and build its response; None means send nothing."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None  # not a DNS message: an authoritative server drops it
        if query.flags & dns.flags.QR:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return query, response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return query, response
        question = query.question[0]
        qname = _norm(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._stats_changed:
            self._stats[f"{qname} {rdtype}"] += 1
            self._transports[transport] += 1
            self._stats_changed.notify_all()
        result = self.zone.lookup(qname, rdtype)
        if result.drop:
            return None
        if result.rcode == dns.rcode.REFUSED:
            response.flags &= ~dns.flags.AA
        response.set_rcode(result.rcode)
        response.answer.extend(result.answer)
        response.authority.extend(result.authority)
        return query, response


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data

"""The lab DNS server answered by dnspython's own stub queries over real UDP and TCP sockets."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from cas_conformance.errors import LabError
from cas_conformance.lab.servers.dns import DnsServer, Zone
from cas_conformance.lab.servers.listener import STOP_BUDGET
from tests.lab_dns import fresh_for_each_test

ADDRESS = "127.0.53.1"
SHORT = 0.3


def _zone() -> Zone:
    zone = Zone(["contoso.lab"])
    zone.add("mail.contoso.lab", "A", "127.0.10.1")
    zone.add("owa.contoso.lab", "CNAME", "web.contoso.lab")
    zone.add("web.contoso.lab", "CNAME", "mail.contoso.lab")
    zone.add("contoso.lab", "MX", "10 mx1.contoso.lab")
    zone.add("contoso.lab", "MX", "20 mx2.contoso.lab")
    zone.add("away.contoso.lab", "CNAME", "www.fabrikam.test")
    for i in range(60):
        zone.add("big.contoso.lab", "A", f"127.0.11.{i}")
    return zone


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    with DnsServer(ADDRESS, _zone()) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(server: DnsServer) -> Iterator[None]:
    yield from fresh_for_each_test(server)


def udp(server: DnsServer, name: str, rdtype: str, **kwargs: object) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kwargs)  # type: ignore[arg-type]
    return dns.query.udp(query, ADDRESS, port=server.port, timeout=SHORT)


def tcp(server: DnsServer, name: str, rdtype: str) -> dns.message.Message:
    return dns.query.tcp(dns.message.make_query(name, rdtype), ADDRESS, port=server.port, timeout=SHORT)


def texts(message: dns.message.Message) -> list[str]:
    return [rr.to_text() for rr in message.answer]


@pytest.mark.parametrize("ask", [udp, tcp], ids=["udp", "tcp"])
def test_a_record_is_answered_authoritatively(server: DnsServer, ask: object) -> None:
    response = ask(server, "Mail.Contoso.Lab.", "A")  # type: ignore[operator]
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    # the owner name echoes the question's case (name compression), as real servers do
    assert [t.lower() for t in texts(response)] == ["mail.contoso.lab. 300 in a 127.0.10.1"]
    assert server.stats["mail.contoso.lab A"] == 1


def test_cname_chain_is_followed_inside_the_zone(server: DnsServer) -> None:
    response = udp(server, "owa.contoso.lab", "A")
    assert texts(response) == [
        "owa.contoso.lab. 300 IN CNAME web.contoso.lab.",
        "web.contoso.lab. 300 IN CNAME mail.contoso.lab.",
        "mail.contoso.lab. 300 IN A 127.0.10.1",
    ]


def test_cname_question_gets_the_cname_only(server: DnsServer) -> None:
    assert texts(udp(server, "owa.contoso.lab", "CNAME")) == [
        "owa.contoso.lab. 300 IN CNAME web.contoso.lab."
    ]


def test_cname_leaving_the_zone_is_answered_without_its_target(server: DnsServer) -> None:
    response = udp(server, "away.contoso.lab", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert texts(response) == ["away.contoso.lab. 300 IN CNAME www.fabrikam.test."]


def test_mx_records(server: DnsServer) -> None:
    response = tcp(server, "contoso.lab", "MX")
    assert sorted(rr.to_text() for rr in response.answer[0]) == ["10 mx1.contoso.lab.", "20 mx2.contoso.lab."]


def test_unknown_name_is_nxdomain_with_the_zone_soa(server: DnsServer) -> None:
    response = udp(server, "nothere.contoso.lab", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.answer == []
    assert response.authority[0].rdtype == dns.rdatatype.SOA


def test_existing_name_without_the_type_is_nodata(server: DnsServer) -> None:
    response = udp(server, "mail.contoso.lab", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert response.authority[0].rdtype == dns.rdatatype.SOA


def test_name_outside_the_zone_is_refused(server: DnsServer) -> None:
    response = udp(server, "www.example.com", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA


def test_servfail_fault(server: DnsServer) -> None:
    server.zone.set_fault("mail.contoso.lab", "servfail")
    assert udp(server, "mail.contoso.lab", "A").rcode() == dns.rcode.SERVFAIL
    assert tcp(server, "mail.contoso.lab", "A").rcode() == dns.rcode.SERVFAIL
    server.zone.set_fault("mail.contoso.lab", None)
    assert udp(server, "mail.contoso.lab", "A").rcode() == dns.rcode.NOERROR


def test_servfail_fault_on_a_cname_target(server: DnsServer) -> None:
    server.zone.set_fault("mail.contoso.lab", "servfail")
    assert udp(server, "owa.contoso.lab", "A").rcode() == dns.rcode.SERVFAIL


def test_nxdomain_fault_hides_an_existing_name(server: DnsServer) -> None:
    server.zone.set_fault("mail.contoso.lab", "nxdomain")
    assert udp(server, "mail.contoso.lab", "A").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize("ask", [udp, tcp], ids=["udp", "tcp"])
def test_timeout_fault_never_answers(server: DnsServer, ask: object) -> None:
    server.zone.set_fault("mail.contoso.lab", "timeout")
    started = time.monotonic()
    with pytest.raises(dns.exception.Timeout):
        ask(server, "mail.contoso.lab", "A")  # type: ignore[operator]
    assert time.monotonic() - started < SHORT + 2  # the client's own timeout, not a late answer
    assert server.stats["mail.contoso.lab A"] == 1  # received and counted, just not answered


def test_large_answer_is_truncated_over_udp_without_edns(server: DnsServer) -> None:
    response = dns.query.udp(
        dns.message.make_query("big.contoso.lab", "A"), ADDRESS, port=server.port, timeout=SHORT
    )
    assert response.flags & dns.flags.TC
    assert response.answer == []
    assert len(tcp(server, "big.contoso.lab", "A").answer[0]) == 60
    assert server.transports == {"udp": 1, "tcp": 1}


def test_large_answer_fits_with_an_edns_payload(server: DnsServer) -> None:
    response = udp(server, "big.contoso.lab", "A", use_edns=0, payload=4096)
    assert not response.flags & dns.flags.TC
    assert len(response.answer[0]) == 60


def test_answer_larger_than_the_edns_payload_is_truncated(server: DnsServer) -> None:
    response = udp(server, "big.contoso.lab", "A", use_edns=0, payload=600)
    assert response.flags & dns.flags.TC


def test_several_queries_on_one_tcp_connection(server: DnsServer) -> None:
    with socket.create_connection((ADDRESS, server.port), timeout=SHORT) as sock:
        for name in ("mail.contoso.lab", "contoso.lab"):
            wire = dns.message.make_query(name, "A").to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            size = struct.unpack("!H", sock.recv(2))[0]
            data = b""
            while len(data) < size:
                data += sock.recv(size - len(data))
            assert dns.message.from_wire(data).question[0].name.to_text() == name + "."
    assert server.transports["tcp"] == 2


def test_records_added_while_serving_are_answered(server: DnsServer) -> None:
    server.zone.add("new.contoso.lab", "A", "127.0.10.9")
    try:
        assert texts(udp(server, "new.contoso.lab", "A")) == ["new.contoso.lab. 300 IN A 127.0.10.9"]
    finally:
        server.zone.remove("new.contoso.lab")
    assert udp(server, "new.contoso.lab", "A").rcode() == dns.rcode.NXDOMAIN


def test_held_answers_are_sent_on_release(server: DnsServer) -> None:
    server.hold()
    query = dns.message.make_query("mail.contoso.lab", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query.to_wire(), (ADDRESS, server.port))
        assert server.wait_for_queries(1, timeout=2)
        sock.settimeout(0.05)
        with pytest.raises(TimeoutError):
            sock.recv(512)
        server.release()
        sock.settimeout(2)
        assert dns.message.from_wire(sock.recv(512)).rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize(
    ("name", "rdtype", "value"),
    [
        ("www.example.com", "A", "127.0.0.1"),
        ("x.contoso.lab", "A", "not-an-ip"),
        ("mail.contoso.lab", "CNAME", "web.contoso.lab"),
        ("owa.contoso.lab", "A", "127.0.0.1"),
        ("x.contoso.lab", "TXT", "hello"),
    ],
)
def test_zone_rejects_bad_records(name: str, rdtype: str, value: str) -> None:
    with pytest.raises(LabError):
        _zone().add(name, rdtype, value)  # type: ignore[arg-type]


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(LabError, match="unknown DNS fault"):
        _zone().set_fault("mail.contoso.lab", "slow")  # type: ignore[arg-type]


def test_refuses_to_bind_outside_loopback() -> None:
    with pytest.raises(LabError, match="loopback"):
        DnsServer("192.0.2.1", _zone())


def test_stop_is_prompt_with_an_idle_tcp_client() -> None:
    srv = DnsServer(ADDRESS, _zone()).start()
    with socket.create_connection((ADDRESS, srv.port), timeout=1) as client:
        wire = dns.message.make_query("mail.contoso.lab", "A").to_wire()
        client.sendall(struct.pack("!H", len(wire)) + wire)
        assert client.recv(2)  # the connection thread is serving; now leave it idle
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < STOP_BUDGET / 2  # prompt: not the budget for a busy thread
    srv.check()

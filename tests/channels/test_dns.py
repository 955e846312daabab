"""The suite's Resolver against the lab DNS server over real sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from cas_conformance.channels.dns import DnsAnswer, Resolver
from cas_conformance.lab import DnsServer, Zone
from tests.lab_dns import fresh_for_each_test

ADDRESS = "127.0.53.11"
OTHER_ADDRESS = "127.0.53.12"
SHORT = 0.3
WHOLE = 1.0  # a timeout the tests time: long enough that a loaded machine adds little to it


def _zone() -> Zone:
    zone = Zone(["contoso.lab"])
    zone.add("mail.contoso.lab", "A", "127.0.10.1")
    zone.add("mail.contoso.lab", "A", "127.0.10.2")
    zone.add("owa.contoso.lab", "CNAME", "web.contoso.lab")
    zone.add("web.contoso.lab", "CNAME", "mail.contoso.lab")
    zone.add("contoso.lab", "MX", "20 mx2.contoso.lab")
    zone.add("contoso.lab", "MX", "10 mx1.contoso.lab")
    zone.add("partner.contoso.lab", "CNAME", "www.fabrikam.lab")
    for i in range(100):  # 1.6 KB of answer: more than the EDNS payload the client offers
        zone.add("big.contoso.lab", "A", f"127.0.11.{i}")
    return zone


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    with DnsServer(ADDRESS, _zone()) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(server: DnsServer) -> Iterator[None]:
    yield from fresh_for_each_test(server)


@pytest.fixture
def resolver(server: DnsServer) -> Resolver:
    return Resolver([(ADDRESS, server.port)], timeout=SHORT)


def test_a_records(resolver: Resolver, server: DnsServer) -> None:
    answer = resolver.resolve("MAIL.contoso.lab.", "a")
    assert answer.ok
    assert answer == DnsAnswer(
        "mail.contoso.lab", "A", "NOERROR", ("127.0.10.1", "127.0.10.2"), (), f"{ADDRESS}:{server.port}", ""
    )


def test_cname_chain_is_recorded(resolver: Resolver) -> None:
    answer = resolver.resolve("owa.contoso.lab", "A")
    assert answer.status == "NOERROR"
    assert answer.cname_chain == ("web.contoso.lab", "mail.contoso.lab")
    assert answer.records == ("127.0.10.1", "127.0.10.2")


def test_mx_records_are_sorted_by_preference(resolver: Resolver) -> None:
    assert resolver.resolve("contoso.lab", "MX").records == ("10 mx1.contoso.lab", "20 mx2.contoso.lab")


@pytest.mark.parametrize(
    ("name", "rdtype", "status"),
    [
        ("nothere.contoso.lab", "A", "NXDOMAIN"),
        ("mail.contoso.lab", "MX", "NODATA"),
        ("www.example.com", "A", "REFUSED"),
    ],
)
def test_negative_outcomes(
    resolver: Resolver, server: DnsServer, name: str, rdtype: str, status: str
) -> None:
    answer = resolver.resolve(name, rdtype)
    assert (answer.status, answer.records, answer.ok) == (status, (), False)
    assert answer.detail == f"{status} from {ADDRESS}:{server.port}"


def test_servfail(resolver: Resolver, server: DnsServer) -> None:
    server.zone.set_fault("mail.contoso.lab", "servfail")
    assert resolver.resolve("mail.contoso.lab", "A").status == "SERVFAIL"


def test_timeout_is_honoured_in_total(server: DnsServer) -> None:
    server.zone.set_fault("mail.contoso.lab", "timeout")
    resolver = Resolver([(ADDRESS, server.port)], timeout=WHOLE)
    started = time.monotonic()
    answer = resolver.resolve("mail.contoso.lab", "A")
    elapsed = time.monotonic() - started
    assert answer.status == "TIMEOUT"
    assert WHOLE <= elapsed < 1.8 * WHOLE  # in total, not once per attempt
    assert "within 1 s" in answer.detail


def test_truncated_answer_is_fetched_over_tcp(resolver: Resolver, server: DnsServer) -> None:
    answer = resolver.resolve("big.contoso.lab", "A")
    assert len(answer.records) == 100
    assert server.transports == {"udp": 1, "tcp": 1}


def test_next_server_is_asked_when_the_first_never_answers(server: DnsServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((OTHER_ADDRESS, 0))
        silent_port = silent.getsockname()[1]
        resolver = Resolver([(OTHER_ADDRESS, silent_port), (ADDRESS, server.port)], timeout=2 * WHOLE)
        started = time.monotonic()
        answer = resolver.resolve("mail.contoso.lab", "A")
    assert answer.ok
    assert answer.resolver == f"{ADDRESS}:{server.port}"
    assert WHOLE <= time.monotonic() - started < 1.8 * WHOLE  # the silent server got its half, no more


def test_cname_into_another_zone_is_chased(server: DnsServer) -> None:
    partner_zone = Zone(["fabrikam.lab"])
    partner_zone.add("www.fabrikam.lab", "A", "127.0.12.1")
    with DnsServer(OTHER_ADDRESS, partner_zone) as partner:
        resolver = Resolver([(ADDRESS, server.port), (OTHER_ADDRESS, partner.port)], timeout=1.0)
        answer = resolver.resolve("partner.contoso.lab", "A")
    assert answer.name == "partner.contoso.lab"
    assert answer.status == "NOERROR"
    assert answer.cname_chain == ("www.fabrikam.lab",)
    assert answer.records == ("127.0.12.1",)
    assert answer.resolver == f"{OTHER_ADDRESS}:{partner.port}"


def test_each_question_is_asked_once(resolver: Resolver, server: DnsServer) -> None:
    first = resolver.resolve("mail.contoso.lab", "A")
    assert resolver.resolve("Mail.Contoso.Lab.", "A") is first
    resolver.resolve("mail.contoso.lab", "MX")
    assert server.stats == {"mail.contoso.lab A": 1, "mail.contoso.lab MX": 1}


def test_concurrent_askers_share_one_query(resolver: Resolver, server: DnsServer) -> None:
    server.hold()  # the first query is received but not answered until every thread is waiting
    barrier = threading.Barrier(20)
    results: list[DnsAnswer] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        answer = resolver.resolve("mail.contoso.lab", "A")
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    assert server.wait_for_queries(1, timeout=2)
    # without single-flight the other 19 would be on the wire by now
    assert not server.wait_for_queries(2, timeout=0.1)
    server.release()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert {r.records for r in results} == {("127.0.10.1", "127.0.10.2")}
    assert server.stats == {"mail.contoso.lab A": 1}


def test_answers_round_trip_through_json(resolver: Resolver) -> None:
    """What a run saves (the replay reads it from the evidence, see tests/evidence)."""
    resolver.resolve("owa.contoso.lab", "A")
    resolver.resolve("nothere.contoso.lab", "A")
    saved = json.loads(json.dumps([a.to_dict() for a in resolver.answers()]))
    assert [DnsAnswer.from_dict(d) for d in saved] == resolver.answers()
    assert saved[0]["cname_chain"] == ["web.contoso.lab", "mail.contoso.lab"]
    assert saved[1]["status"] == "NXDOMAIN"


def test_from_dict_rejects_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        DnsAnswer.from_dict({"name": "x", "rdtype": "A", "status": "MAYBE"})


def test_addresses(resolver: Resolver, server: DnsServer) -> None:
    assert resolver.addresses("127.9.9.9") == ("127.9.9.9",)
    assert resolver.addresses("[::1]") == ("::1",)
    assert resolver.addresses("owa.contoso.lab") == ("127.0.10.1", "127.0.10.2")
    assert resolver.addresses("nothere.contoso.lab") == ()
    assert set(server.stats) == {"owa.contoso.lab A", "nothere.contoso.lab A"}


def test_system_resolver_is_labelled_system() -> None:
    assert Resolver(None, timeout=SHORT).label == "system"

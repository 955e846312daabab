"""The lab at the size of the largest Exchange 2010 organisations: 2,000 generated servers, each on a
loopback address of its own over several /24s, started in seconds, answering DNS far past the first
/24, with a bounded number of open files."""

from __future__ import annotations

import ipaddress
import os
import random
import resource
import socket
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rdatatype
import pytest

from cas_conformance.errors import LabError
from cas_conformance.lab.embedded import start_lab
from cas_conformance.lab.runtime import Lab
from cas_conformance.lab.scenario.generated import generated
from cas_conformance.lab.scenario.model import load_scenario
from cas_conformance.lab.servers.net import HOSTS_PER_BLOCK, loopback_block, raise_open_files_limit
from tests.lab.conftest import HEALTHY

SERVERS = 2000


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def big_lab() -> Iterator[tuple[Lab, int]]:
    before = _open_files()
    lab = start_lab(HEALTHY, servers=SERVERS)
    try:
        yield lab, _open_files() - before
    finally:
        lab.stop()


def test_a_generated_organisation_of_2000_servers_has_distinct_loopback_addresses(
    big_lab: tuple[Lab, int],
) -> None:
    lab, _ = big_lab
    servers = lab.scenario.servers
    assert len(servers) == SERVERS
    addresses = [lab.address_of(x.name) for x in servers]
    assert len(set(addresses)) == SERVERS
    assert len(set(lab.addresses.values())) == len(lab.addresses)  # roles included
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in addresses)
    blocks = {a.rsplit(".", 1)[0] for a in addresses}
    assert len(blocks) >= SERVERS // HOSTS_PER_BLOCK  # eight /24s: far past the first


def test_dns_answers_for_a_server_far_past_the_first_24(big_lab: tuple[Lab, int]) -> None:
    lab, _ = big_lab
    last = lab.scenario.servers[-1]
    fqdn = last.fqdn(lab.scenario.domain)
    address = lab.address_of(last.name)
    assert address.rsplit(".", 1)[0] != lab.addresses["dns"].rsplit(".", 1)[0]
    for name in (fqdn, last.failback_host):
        answer = dns.query.udp(
            dns.message.make_query(name, "A"), lab.addresses["dns"], port=lab.ports["dns"], timeout=5
        )
        assert [r.address for rrset in answer.answer for r in rrset if r.rdtype == dns.rdatatype.A] == [
            address
        ]


def test_the_last_server_listens_for_winrm_at_its_own_address(big_lab: tuple[Lab, int]) -> None:
    lab, _ = big_lab
    address = lab.address_of(lab.scenario.servers[-1].name)
    with socket.create_connection((address, lab.ports["winrm-https"]), timeout=5):
        pass


def test_open_files_stay_near_five_listeners_per_server(big_lab: tuple[Lab, int]) -> None:
    _, opened = big_lab
    # WinRM https + http, HTTPS, HTTP and the /PowerShell site on each server's address; a few
    # dozen for the rest of the lab
    assert 5 * SERVERS <= opened <= 5 * SERVERS + 100


def test_loopback_blocks_are_consecutive_24s_from_a_random_start() -> None:
    block = loopback_block(HOSTS_PER_BLOCK * 3 + 1, random.Random(7))
    assert len(set(block)) == len(block)
    assert {a.rsplit(".", 1)[1] for a in block[:HOSTS_PER_BLOCK]} == {str(h) for h in range(1, 255)}
    prefixes = list(dict.fromkeys(a.rsplit(".", 1)[0] for a in block))
    assert len(prefixes) == 4
    numbers = [int(p.split(".")[1]) * 256 + int(p.split(".")[2]) for p in prefixes]
    assert numbers == list(range(numbers[0], numbers[0] + 4))
    assert all(int(p.split(".")[1]) >= 16 for p in prefixes)
    starts = {loopback_block(1, random.Random(seed))[0] for seed in range(20)}
    assert len(starts) > 1  # labs side by side get different blocks


def test_the_top_of_127_is_never_passed() -> None:
    class Highest(random.Random):
        def randint(self, a: int, b: int) -> int:
            return b

    block = loopback_block(HOSTS_PER_BLOCK * 2, Highest())
    assert block[-1] == "127.255.255.254"


def test_a_size_outside_the_generator_is_a_clear_error() -> None:
    with pytest.raises(LabError, match="--servers takes 1 to"):
        generated(load_scenario(HEALTHY), 100_000)


def test_the_open_files_limit_is_raised_to_the_hard_limit_when_needed() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < _open_files() + 512:
        pytest.skip(f"the hard limit ({hard}) leaves no room to lower the soft limit and raise it again")
    low = _open_files() + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        assert raise_open_files_limit(low - 10) == low  # enough already: unchanged
        assert raise_open_files_limit(low + 1) == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        with pytest.raises(LabError, match="hard limit"):
            raise_open_files_limit(hard + 1)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

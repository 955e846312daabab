"""The lab SMTP server spoken to with smtplib and raw sockets over loopback."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from cas_conformance.errors import LabError
from cas_conformance.lab.servers.listener import STOP_BUDGET
from cas_conformance.lab.servers.smtp import SmtpServer
from tests.channels.test_dialer import make_self_signed, server_context

ADDRESSES = ["127.0.25.1", "127.0.25.2"]
HOSTNAME = "mx1.contoso.lab"


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    cert, key = make_self_signed(tmp_path_factory.mktemp("smtp"), HOSTNAME)
    return server_context(cert, key)


@pytest.fixture
def plain() -> Iterator[SmtpServer]:
    with SmtpServer(ADDRESSES, hostname=HOSTNAME, tls_context=None) as srv:
        yield srv


@pytest.fixture
def with_tls(tls_context: ssl.SSLContext) -> Iterator[SmtpServer]:
    with SmtpServer(ADDRESSES, hostname=HOSTNAME, tls_context=tls_context) as srv:
        yield srv


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_banner_and_ehlo_without_tls(plain: SmtpServer) -> None:
    with smtplib.SMTP(timeout=2, local_hostname="client.test") as client:
        code, banner = client.connect(ADDRESSES[0], plain.port)
        assert (code, banner.decode()) == (220, f"{HOSTNAME} Microsoft ESMTP MAIL Service ready")
        code, reply = client.ehlo()
        assert code == 250
        assert client.sock is not None
        assert reply.decode().splitlines() == [
            f"{HOSTNAME} Hello [{client.sock.getsockname()[0]}]",
            "SIZE 37748736",
            "PIPELINING",
            "8BITMIME",
        ]
        assert not client.has_extn("starttls")
        assert client.docmd("STARTTLS")[0] == 502


def test_starttls_upgrades_the_session(with_tls: SmtpServer) -> None:
    with smtplib.SMTP(ADDRESSES[1], with_tls.port, timeout=2, local_hostname="client.test") as client:
        client.ehlo()
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=_unverified())
        assert code == 220
        assert isinstance(client.sock, ssl.SSLSocket)
        peer_cert = client.sock.getpeercert(binary_form=True)
        assert peer_cert is not None
        code, reply = client.ehlo()
        assert code == 250
        assert "STARTTLS" not in reply.decode()  # not offered twice


def test_commands(plain: SmtpServer) -> None:
    with smtplib.SMTP(ADDRESSES[0], plain.port, timeout=2, local_hostname="client.test") as client:
        assert client.helo()[0] == 250
        assert client.rset()[0] == 250
        assert client.noop()[0] == 250
        assert client.docmd("MAIL", "FROM:<a@b.test>")[0] == 502
        assert client.docmd("VRFY", "admin")[0] == 502
        assert client.quit()[0] == 221


def test_stats_count_connections_per_address(plain: SmtpServer) -> None:
    for address in (ADDRESSES[0], ADDRESSES[1], ADDRESSES[1]):
        with smtplib.SMTP(address, plain.port, timeout=2, local_hostname="client.test") as client:
            client.quit()
    assert plain.stats == {ADDRESSES[0]: 1, ADDRESSES[1]: 2}


def test_a_client_that_fails_the_handshake_is_not_a_server_error(with_tls: SmtpServer) -> None:
    with socket.create_connection((ADDRESSES[0], with_tls.port), timeout=2) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b"STARTTLS\r\n")
        assert reader.readline().startswith(b"220 ")
        sock.sendall(b"this is not a TLS ClientHello\r\n")
        try:  # the server drops the connection, possibly after a TLS alert
            leftover = reader.read()
        except ConnectionResetError:
            leftover = b""
        assert b"250" not in leftover
    with smtplib.SMTP(ADDRESSES[0], with_tls.port, timeout=2, local_hostname="client.test") as client:
        assert client.noop()[0] == 250  # still serving
    with_tls.check()


def test_stop_is_prompt_with_idle_clients(tls_context: ssl.SSLContext) -> None:
    server = SmtpServer(ADDRESSES[:1], hostname=HOSTNAME, tls_context=tls_context).start()
    idle = socket.create_connection((ADDRESSES[0], server.port), timeout=2)
    in_handshake = socket.create_connection((ADDRESSES[0], server.port), timeout=2)
    try:
        assert idle.recv(100).startswith(b"220 ")
        reader = in_handshake.makefile("rb")
        reader.readline()
        in_handshake.sendall(b"STARTTLS\r\n")
        assert reader.readline().startswith(b"220 ")  # the server now waits for a ClientHello
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < STOP_BUDGET / 2  # prompt: not the budget for a busy thread
    finally:
        idle.close()
        in_handshake.close()


def test_binds_loopback_only() -> None:
    with pytest.raises(LabError, match="loopback"):
        SmtpServer(["192.0.2.25"], hostname=HOSTNAME, tls_context=None)


def test_all_addresses_share_one_port(plain: SmtpServer) -> None:
    for address in ADDRESSES:
        with socket.create_connection((address, plain.port), timeout=2) as sock:
            assert sock.recv(100).startswith(b"220 ")

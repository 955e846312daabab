"""The SMTP probe against the lab SMTP server, reached through lab DNS and a connect_to rule."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.smtp import SmtpProbe, probe_smtp
from cas_conformance.lab import DnsServer, SmtpServer, Zone
from cas_conformance.settings.connect_to import parse_connect_to
from tests.channels.test_dialer import make_self_signed, server_context

DNS_ADDRESS = "127.0.53.41"
MX_ADDRESS = "127.0.25.11"
HOSTNAME = "mx1.contoso.lab"
WHOLE = 1.0  # a timeout the tests time: long enough that a loaded machine adds little to it


@pytest.fixture(scope="module")
def resolver() -> Iterator[Resolver]:
    zone = Zone(["contoso.lab"])
    zone.add(HOSTNAME, "A", MX_ADDRESS)
    with DnsServer(DNS_ADDRESS, zone) as srv:
        yield Resolver([(DNS_ADDRESS, srv.port)], timeout=1)


def _dialer(resolver: Resolver, port: int) -> Dialer:
    return Dialer(resolver, parse_connect_to(f":25::{port}"))


def test_server_with_starttls(resolver: Resolver, tmp_path: Path) -> None:
    seen_sni: list[str] = []
    tls_context = server_context(*make_self_signed(tmp_path, HOSTNAME), seen_sni)
    with SmtpServer([MX_ADDRESS], hostname=HOSTNAME, tls_context=tls_context) as server:
        result = probe_smtp(_dialer(resolver, server.port), HOSTNAME, timeout=2)
        assert server.stats == {MX_ADDRESS: 1}
    assert seen_sni == [HOSTNAME]  # the original name, not the address the rule sent us to
    assert result == SmtpProbe(
        host=HOSTNAME,
        port=25,
        banner_code=220,
        banner=f"{HOSTNAME} Microsoft ESMTP MAIL Service ready",
        extensions=("SIZE 37748736", "PIPELINING", "STARTTLS", "8BITMIME"),
        starttls_offered=True,
        starttls_ok=True,
        error=None,
    )


def test_server_without_starttls(resolver: Resolver) -> None:
    with SmtpServer([MX_ADDRESS], hostname=HOSTNAME, tls_context=None) as server:
        result = probe_smtp(_dialer(resolver, server.port), HOSTNAME, timeout=2)
    assert (result.banner_code, result.starttls_offered, result.starttls_ok, result.error) == (
        220,
        False,
        False,
        None,
    )
    assert "STARTTLS" not in result.extensions


def test_probe_round_trips_through_json(resolver: Resolver) -> None:
    with SmtpServer([MX_ADDRESS], hostname=HOSTNAME, tls_context=None) as server:
        result = probe_smtp(_dialer(resolver, server.port), HOSTNAME, timeout=2)
    assert SmtpProbe.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_refused(resolver: Resolver) -> None:
    with socket.create_server((MX_ADDRESS, 0)) as listener:
        port = listener.getsockname()[1]
    result = probe_smtp(_dialer(resolver, port), HOSTNAME, timeout=2)
    assert (result.banner_code, result.error) == (None, "connection refused")


def test_name_that_does_not_resolve(resolver: Resolver) -> None:
    result = probe_smtp(Dialer(resolver), "nothere.contoso.lab", timeout=2)
    assert result.error is not None
    assert result.error.startswith("nothere.contoso.lab does not resolve (NXDOMAIN from 127.0.53.41:")


def test_silent_server_times_out(resolver: Resolver) -> None:
    with socket.create_server((MX_ADDRESS, 0)) as silent:  # accepts (backlog), never greets
        started = time.monotonic()
        result = probe_smtp(_dialer(resolver, silent.getsockname()[1]), HOSTNAME, timeout=WHOLE)
        elapsed = time.monotonic() - started
    assert result.error == "timed out after 1 s"
    assert WHOLE <= elapsed < 1.8 * WHOLE  # the timeout once, not per step of the dialogue


def _one_shot_server(reply: bytes) -> tuple[socket.socket, threading.Thread]:
    listener = socket.create_server((MX_ADDRESS, 0))

    def serve() -> None:
        conn, _peer = listener.accept()
        with conn:
            conn.sendall(reply)
            conn.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_banner_other_than_220(resolver: Resolver) -> None:
    listener, thread = _one_shot_server(b"554 5.7.1 go away\r\n")
    with listener:
        result = probe_smtp(_dialer(resolver, listener.getsockname()[1]), HOSTNAME, timeout=2)
        thread.join(timeout=2)
    assert (result.banner_code, result.banner, result.error) == (554, "5.7.1 go away", "banner 554, not 220")


def test_server_that_hangs_up_after_the_banner(resolver: Resolver) -> None:
    listener, thread = _one_shot_server(b"220 hello\r\n")
    with listener:
        result = probe_smtp(_dialer(resolver, listener.getsockname()[1]), HOSTNAME, timeout=2)
        thread.join(timeout=2)
    assert result.banner_code == 220
    assert result.error is not None and result.error.startswith("EHLO: server closed the connection")

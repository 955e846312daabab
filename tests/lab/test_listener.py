"""The lifecycle every lab server inherits from Listener: start, port, prompt idempotent stop,
one LabError for an address that cannot be bound, errors raised by check, no thread left behind."""

from __future__ import annotations

import socket
import threading

import pytest

from cas_conformance.errors import LabError
from cas_conformance.lab.servers.listener import Connection, Listener

ADDRESSES = ["127.0.0.1", "127.0.0.2"]


class Echo(Listener):
    """Echoes every chunk back; b"boom" makes the connection thread fail."""

    kind = "echo-test"

    def _serve_connection(self, connection: Connection) -> None:
        while chunk := connection.sock.recv(1024):
            if chunk == b"boom":
                raise RuntimeError("echo handler exploded")
            connection.sock.sendall(chunk)


def _threads(kind: str = Echo.kind) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"lab-{kind}-")]


def _echo(address: str, port: int, data: bytes = b"hello") -> socket.socket:
    sock = socket.create_connection((address, port), timeout=5)
    sock.sendall(data)
    assert sock.recv(1024) == data
    return sock


def test_start_serves_every_address_on_one_port_and_stop_leaves_no_thread() -> None:
    listener = Echo(ADDRESSES)
    assert listener.start() is listener
    try:
        assert listener.port > 0
        clients = [_echo(address, listener.port) for address in ADDRESSES]  # each one served now
        assert len(_threads()) == 3  # the serving thread and one per connection
    finally:
        listener.stop()
    assert _threads() == []
    for client in clients:
        assert client.recv(1) == b""  # the stop cut the idle connection
        client.close()
    with pytest.raises(OSError):
        socket.create_connection((ADDRESSES[0], listener.port), timeout=1).close()
    listener.stop()  # a second stop is a no-op


def test_port_before_start_and_a_second_start_are_usage_errors() -> None:
    listener = Echo(ADDRESSES[:1])
    with pytest.raises(LabError, match="not started"):
        _ = listener.port
    with listener, pytest.raises(LabError, match="already started"):
        listener.start()
    assert _threads() == []


def test_a_port_in_use_is_one_lab_error() -> None:
    with Echo(ADDRESSES[:1]) as first:
        second = Echo(ADDRESSES[:1], port=first.port)
        with pytest.raises(LabError, match=r"could not bind 127\.0\.0\.1 on one port: .*in use"):
            second.start()
        second.stop()  # never started: nothing to stop, no error
    assert _threads() == []


def test_only_loopback_addresses_and_at_least_one() -> None:
    with pytest.raises(LabError, match="loopback"):
        Echo(["192.0.2.10"])
    with pytest.raises(LabError, match="at least one address"):
        Echo([])


def test_a_connection_thread_error_is_raised_by_check_and_stop() -> None:
    listener = Echo(ADDRESSES[:1]).start()
    try:
        with socket.create_connection((ADDRESSES[0], listener.port), timeout=5) as sock:
            sock.sendall(b"boom")
            assert sock.recv(1) == b""  # the failing thread closed the connection
        with pytest.raises(LabError, match="echo handler exploded"):
            listener.check()
    finally:
        with pytest.raises(LabError, match="echo handler exploded"):
            listener.stop()
    assert _threads() == []


def test_a_with_block_error_is_not_hidden_by_a_server_error() -> None:
    with pytest.raises(KeyError), Echo(ADDRESSES[:1]) as listener:
        with socket.create_connection((ADDRESSES[0], listener.port), timeout=5) as sock:
            sock.sendall(b"boom")
            assert sock.recv(1) == b""
        raise KeyError("the test's own error")
    assert _threads() == []


def test_a_serving_thread_that_fails_before_serving_leaves_nothing_open() -> None:
    class Unservable(Echo):
        def _bind(self) -> list[socket.socket]:
            closed = socket.socket()
            closed.close()  # the selector cannot register it: the serving thread fails at once
            return [*super()._bind(), closed]

    listener = Unservable(ADDRESSES[:1])
    with pytest.raises(LabError, match="failed"):
        listener.start()
    with pytest.raises(OSError):  # the bound port was closed, not left listening
        socket.create_connection((ADDRESSES[0], listener.port), timeout=1).close()
    assert _threads() == []


def test_upgrade_is_refused_once_stopping() -> None:
    upgraded = threading.Event()
    refused: list[BaseException] = []
    proceed = threading.Event()

    class Upgrading(Listener):
        kind = "upgrade-test"

        def _serve_connection(self, connection: Connection) -> None:
            connection.upgrade(lambda raw: raw)  # allowed while running
            upgraded.set()
            proceed.wait(5)
            try:
                connection.upgrade(lambda raw: raw)
            except ConnectionAbortedError as exc:
                refused.append(exc)

        def _release_waiters(self) -> None:
            proceed.set()  # the stop is under way: let the connection try again

    listener = Upgrading(ADDRESSES[:1]).start()
    with socket.create_connection((ADDRESSES[0], listener.port), timeout=5):
        assert upgraded.wait(5)
        listener.stop()
    assert len(refused) == 1
    assert _threads(Upgrading.kind) == []

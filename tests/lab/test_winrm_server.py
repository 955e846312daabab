"""The lab's WinRM server against pywinrm's real client, over real loopback sockets."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import winrm
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from winrm.exceptions import InvalidCredentialsError, WSManFaultError

from cas_conformance.errors import LabError
from cas_conformance.lab.servers.listener import STOP_BUDGET
from cas_conformance.lab.servers.winrm import CommandRequest, CommandResult, WinRMServer

USER = "labadmin"
PASSWORD = "Lab-Pa55word!"
ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
FAST = {"operation_timeout_sec": 5, "read_timeout_sec": 10}


class Recorder:
    """A handler that remembers every request and answers with a fixed (or computed) result."""

    def __init__(self, answer: Callable[[CommandRequest], CommandResult] | None = None) -> None:
        self.requests: list[CommandRequest] = []
        self._lock = threading.Lock()
        self._answer = answer or (lambda req: CommandResult(f"hello from {req.host}\r\n", "", 0))

    def __call__(self, request: CommandRequest) -> CommandResult:
        with self._lock:
            self.requests.append(request)
        return self._answer(request)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for localhost and the lab's loopback addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.DNSName("localhost"), *(x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("winrm-tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def https_server(recorder: Recorder, tls_context: ssl.SSLContext) -> Iterator[WinRMServer]:
    with WinRMServer(ADDRESSES, recorder, {USER: PASSWORD}, tls_context=tls_context) as server:
        yield server


@pytest.fixture
def http_server(recorder: Recorder) -> Iterator[WinRMServer]:
    with WinRMServer(ADDRESSES, recorder, {USER: PASSWORD}) as server:
        yield server


def session(
    server: WinRMServer,
    transport: str,
    *,
    address: str = "127.0.0.2",
    password: str = PASSWORD,
    **kwargs: object,
) -> winrm.Session:
    options: dict[str, object] = {"server_cert_validation": "ignore", **FAST, **kwargs}
    return winrm.Session(
        f"{server.scheme}://{address}:{server.port}/wsman",
        auth=(USER, password),
        transport=transport,
        **options,
    )


@pytest.mark.parametrize(
    ("scheme", "transport"), [("https", "basic"), ("https", "ntlm"), ("http", "ntlm")], ids=str
)
def test_run_cmd_full_lifecycle(
    scheme: str, transport: str, recorder: Recorder, request: pytest.FixtureRequest
) -> None:
    server: WinRMServer = request.getfixturevalue(f"{scheme}_server")
    client = session(server, transport)
    content_types: list[str] = []
    http = client.protocol.transport.build_session()
    http.hooks["response"].append(lambda r, **_: content_types.append(r.headers.get("Content-Type", "")))
    result = client.run_cmd("ipconfig", ["/all"])
    assert (result.status_code, result.std_out, result.std_err) == (0, b"hello from 127.0.0.2\r\n", b"")
    [seen] = recorder.requests
    assert (seen.host, seen.local_address, seen.username) == ("127.0.0.2", "127.0.0.2", USER)
    assert (seen.command, seen.arguments, seen.command_line) == ("ipconfig", ("/all",), "ipconfig /all")
    assert (seen.stdin, seen.codepage) == (b"", 437)
    for action in ("Create", "Command", "Receive", "Signal", "Delete"):
        assert server.actions[action] == 1, action
    assert server.shell_count == 0
    soap_types = {t.partition(";")[0] for t in content_types if t}
    assert soap_types == ({"multipart/encrypted"} if scheme == "http" else {"application/soap+xml"})


def test_https_ntlm_checks_the_certificate_path(
    https_server: WinRMServer, tls_files: tuple[Path, Path]
) -> None:
    """pywinrm validating the lab certificate (and sending channel bindings) works end to end."""
    result = session(
        https_server,
        "ntlm",
        address="localhost",
        server_cert_validation="validate",
        ca_trust_path=str(tls_files[0]),
    ).run_cmd("hostname")
    assert result.std_out == b"hello from localhost\r\n"


def test_run_ps_passes_the_encoded_script(http_server: WinRMServer, recorder: Recorder) -> None:
    result = session(http_server, "ntlm").run_ps("Get-ExchangeServer | Select Name")
    assert result.status_code == 0
    [seen] = recorder.requests
    command, _, encoded = seen.command_line.partition(" -encodedcommand ")
    assert command == "powershell"
    assert base64.b64decode(encoded).decode("utf-16-le") == "Get-ExchangeServer | Select Name"


def test_run_ps_with_a_long_script_hits_the_cmd_line_limit(
    http_server: WinRMServer, recorder: Recorder
) -> None:
    script = "Write-Output 'x'\n" * 200  # ~3.4 KB of source, ~9 KB once UTF-16LE and base64
    result = session(http_server, "ntlm").run_ps(script)
    assert (result.status_code, result.std_out) == (1, b"")
    assert result.std_err == b"The command line is too long.\r\n"
    assert recorder.requests == []
    assert http_server.stats["127.0.0.2"] == 1


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_script_staged_through_stdin(scheme: str, request: pytest.FixtureRequest) -> None:
    """The collector's way: a small -EncodedCommand bootstrap reads the real script from stdin."""
    script = ("# collector line with ünïcode\r\n" * 8000).encode("utf-8")  # ~260 KB, several Sends
    big_output = "".join(f"line {i:06d}\r\n" for i in range(30000))  # ~390 KB: several Receives

    def answer(req: CommandRequest) -> CommandResult:
        assert req.stdin == script
        return CommandResult(big_output, "warning\r\n", 3)

    recorder = Recorder(answer)
    tls = request.getfixturevalue("tls_context") if scheme == "https" else None
    with WinRMServer(ADDRESSES, recorder, {USER: PASSWORD}, tls_context=tls) as server:
        protocol = session(server, "ntlm").protocol
        shell = protocol.open_shell(codepage=65001)
        bootstrap = base64.b64encode("$input | Out-String | iex".encode("utf-16-le")).decode()
        command = protocol.run_command(shell, "powershell.exe", ["-NoProfile", "-EncodedCommand", bootstrap])
        half = len(script) // 2
        protocol.send_command_input(shell, command, script[:half])
        protocol.send_command_input(shell, command, script[half:], end=True)
        stdout, stderr, code = protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)
        protocol.close_shell(shell)
        assert (stdout.decode("utf-8"), stderr, code) == (big_output, b"warning\r\n", 3)
        assert server.actions["Send"] == 2 and server.actions["Receive"] >= 3
        [seen] = recorder.requests
        assert seen.arguments == (f"-NoProfile -EncodedCommand {bootstrap}",)
        assert server.shell_count == 0


@pytest.mark.parametrize(("codepage", "expected"), [(437, "café ? ok"), (65001, "café € ok")])
def test_output_uses_the_shell_code_page(http_server: WinRMServer, codepage: int, expected: str) -> None:
    recorder = Recorder(lambda req: CommandResult("café € ok", "€", 0))
    with WinRMServer(["127.0.0.1"], recorder, {USER: PASSWORD}) as server:
        protocol = session(server, "ntlm", address="127.0.0.1").protocol
        shell = protocol.open_shell(codepage=codepage, env_vars={"LAB": "1"})
        command = protocol.run_command(shell, "cmd", ["/c", "type", "x.txt"])
        stdout, stderr, _ = protocol.get_command_output(shell, command)
        protocol.close_shell(shell)
    codec = "cp437" if codepage == 437 else "utf-8"
    assert (stdout.decode(codec), stderr.decode(codec)) == (expected, expected[5])
    assert recorder.requests[0].codepage == codepage
    assert dict(recorder.requests[0].environment) == {"LAB": "1"}


def test_wrong_password_is_rejected(https_server: WinRMServer, http_server: WinRMServer) -> None:
    for server, transport in [(https_server, "basic"), (https_server, "ntlm"), (http_server, "ntlm")]:
        with pytest.raises(InvalidCredentialsError):
            session(server, transport, password="wrong").run_cmd("whoami")
    with pytest.raises(InvalidCredentialsError):
        url = f"http://127.0.0.1:{http_server.port}/wsman"
        options = {"server_cert_validation": "ignore", **FAST}
        winrm.Session(url, auth=("nobody", PASSWORD), transport="ntlm", **options).run_cmd("whoami")
    assert http_server.shell_count == 0 and https_server.shell_count == 0


def test_basic_over_http_is_refused(http_server: WinRMServer, recorder: Recorder) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(http_server, "basic").run_cmd("whoami")
    assert recorder.requests == []
    raw = requests.post(
        f"http://127.0.0.1:{http_server.port}/wsman", data=b"<x/>", auth=(USER, PASSWORD), timeout=5
    )
    assert (raw.status_code, raw.headers["WWW-Authenticate"]) == (401, "Negotiate")


def test_https_offers_negotiate_and_basic(https_server: WinRMServer, tls_files: tuple[Path, Path]) -> None:
    url = f"https://127.0.0.1:{https_server.port}/wsman"
    raw = requests.post(url, data=b"<x/>", verify=str(tls_files[0]), timeout=5)
    assert (raw.status_code, raw.headers["WWW-Authenticate"]) == (401, 'Negotiate, Basic realm="WSMAN"')
    assert raw.headers["Server"] == "Microsoft-HTTPAPI/2.0"


@pytest.mark.parametrize("transport", ["basic", "ntlm"])
def test_domain_qualified_user(transport: str, recorder: Recorder, tls_context: ssl.SSLContext) -> None:
    """A DOMAIN\\user account matches case-insensitively and reaches the handler as the client wrote it."""
    with WinRMServer(
        ["127.0.0.1"], recorder, {"CONTOSO\\labadmin": PASSWORD}, tls_context=tls_context
    ) as server:
        url = f"https://127.0.0.1:{server.port}/wsman"
        client = winrm.Session(
            url,
            auth=("contoso\\LabAdmin", PASSWORD),
            transport=transport,
            server_cert_validation="ignore",
            **FAST,
        )
        assert client.run_cmd("whoami").status_code == 0
        with pytest.raises(InvalidCredentialsError):
            winrm.Session(
                url, auth=("labadmin", PASSWORD), transport=transport, server_cert_validation="ignore", **FAST
            ).run_cmd("whoami")
    assert recorder.requests[0].username == "contoso\\LabAdmin"


def test_unencrypted_soap_over_http_is_refused(http_server: WinRMServer) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(http_server, "ntlm", message_encryption="never").run_cmd("whoami")
    assert http_server.actions["Create"] == 0


def test_unknown_shell_is_a_wsman_fault(https_server: WinRMServer) -> None:
    protocol = session(https_server, "basic").protocol
    with pytest.raises(WSManFaultError) as caught:
        protocol.run_command("1C9E1F2A-0000-4000-8000-000000000000", "whoami")
    assert (caught.value.code, caught.value.wsman_fault_code) == (500, 2150858843)
    assert "shell was not found" in caught.value.reason


def test_unknown_command_and_closed_stdin_are_wsman_faults(https_server: WinRMServer) -> None:
    protocol = session(https_server, "basic").protocol
    shell = protocol.open_shell()
    with pytest.raises(WSManFaultError) as caught:
        protocol.get_command_output_raw(shell, "0D1C2B3A-0000-4000-8000-000000000000")
    assert (caught.value.code, caught.value.wsman_fault_code) == (500, 87)
    command = protocol.run_command(shell, "more")
    protocol.send_command_input(shell, command, b"data", end=True)
    with pytest.raises(WSManFaultError, match="already closed"):
        protocol.send_command_input(shell, command, b"more data")
    protocol.close_shell(shell)
    assert https_server.shell_count == 0


def test_slow_handler_completes_after_operation_timeouts() -> None:
    done = threading.Event()

    def slow(req: CommandRequest) -> CommandResult:
        done.wait(1.3)  # longer than the client's 1 s OperationTimeout: a deliberately slow server
        return CommandResult("finally\r\n", "", 0)

    with WinRMServer(["127.0.0.1"], slow, {USER: PASSWORD}) as server:
        client = session(server, "ntlm", address="127.0.0.1", operation_timeout_sec=1, read_timeout_sec=2)
        result = client.run_cmd("slow.exe")
        assert result.std_out == b"finally\r\n"
        assert server.actions["Receive"] >= 2  # the first one answered the OperationTimeout fault


def test_stop_is_prompt_while_a_receive_waits() -> None:
    started, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def stuck(req: CommandRequest) -> CommandResult:
        started.set()
        release.wait(10)
        return CommandResult("", "", 0)

    def client() -> None:
        try:
            session(
                server, "ntlm", address="127.0.0.1", operation_timeout_sec=20, read_timeout_sec=30
            ).run_cmd("x")
        except Exception as exc:
            failures.append(exc)

    server = WinRMServer(["127.0.0.1"], stuck, {USER: PASSWORD})
    server.start()
    thread = threading.Thread(target=client)
    thread.start()
    try:
        assert started.wait(5)
        begun = time.monotonic()
        server.stop()
        assert time.monotonic() - begun < STOP_BUDGET / 2  # prompt: not the budget for a busy thread
        thread.join(5)
        assert not thread.is_alive() and len(failures) == 1
    finally:
        release.set()
        server.stop()


def test_stats_count_commands_per_host(http_server: WinRMServer, recorder: Recorder) -> None:
    for address in ["127.0.0.2", "127.0.0.3", "127.0.0.3", "localhost"]:
        session(http_server, "ntlm", address=address).run_cmd("hostname")
    assert dict(http_server.stats) == {"127.0.0.2": 1, "127.0.0.3": 2, "localhost": 1}
    assert {(r.host, r.local_address) for r in recorder.requests} == {
        ("127.0.0.2", "127.0.0.2"),
        ("127.0.0.3", "127.0.0.3"),
        ("localhost", "127.0.0.1"),
    }


def test_two_servers_with_different_credentials_in_parallel(tls_context: ssl.SSLContext) -> None:
    """Same user name, different passwords: each NTLM acceptor must use its own server's users."""
    passwords = ["first-Pa55", "second-Pa55"]
    servers = [
        WinRMServer(["127.0.0.1"], Recorder(), {USER: passwords[0]}),
        WinRMServer(["127.0.0.1"], Recorder(), {USER: passwords[1], "other": "x"}, tls_context=tls_context),
    ]
    outcomes: dict[tuple[int, int, int], object] = {}

    def attempt(index: int, password_index: int, round_no: int) -> None:
        server = servers[index]
        try:
            outcomes[(index, password_index, round_no)] = (
                session(server, "ntlm", address="127.0.0.1", password=passwords[password_index])
                .run_cmd("whoami")
                .status_code
            )
        except InvalidCredentialsError as exc:
            outcomes[(index, password_index, round_no)] = type(exc)

    for server in servers:
        server.start()
    try:
        threads = [
            threading.Thread(target=attempt, args=(i, p, r))
            for i in range(2)
            for p in range(2)
            for r in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        for server in servers:
            server.stop()
    for (index, password_index, _), outcome in outcomes.items():
        assert outcome == (0 if index == password_index else InvalidCredentialsError)
    assert len(outcomes) == 12
    for server in servers:
        server.check()


def test_oversized_body_gets_413(https_server: WinRMServer, tls_files: tuple[Path, Path]) -> None:
    body = b"<x/>" * (3 * 1024 * 1024)  # 12 MiB
    url = f"https://127.0.0.1:{https_server.port}/wsman"
    response = requests.post(url, data=body, auth=(USER, PASSWORD), verify=str(tls_files[0]), timeout=10)
    assert response.status_code == 413


def test_handler_errors_are_reported_by_check(recorder: Recorder) -> None:
    def broken(req: CommandRequest) -> CommandResult:
        raise RuntimeError("collector simulation bug")

    server = WinRMServer(["127.0.0.1"], broken, {USER: PASSWORD})
    with pytest.raises(LabError, match="collector simulation bug"), server:
        result = session(server, "ntlm", address="127.0.0.1").run_cmd("whoami")
        assert (result.status_code, result.std_err) == (1, b"lab handler failed: RuntimeError\r\n")
        with pytest.raises(LabError, match="collector simulation bug"):
            server.check()
    # ... and leaving the with-block re-raised it once more (pytest.raises above caught that one)


def test_ntlm_user_file_holds_no_password(http_server: WinRMServer) -> None:
    assert http_server.users is not None
    path = http_server.users.ntlm_store.path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = Path(path).read_text()
    assert text.startswith(f"{USER}:") and PASSWORD not in text
    assert PASSWORD not in repr(http_server) and PASSWORD not in repr(http_server.users)


def test_user_file_is_removed_on_stop(recorder: Recorder) -> None:
    with WinRMServer(["127.0.0.1"], recorder, {USER: PASSWORD}) as server:
        assert server.users is not None
        path = server.users.ntlm_store.path
        assert os.path.exists(path)
    assert not os.path.exists(path)


def test_non_loopback_address_is_refused(recorder: Recorder) -> None:
    with pytest.raises(LabError):
        WinRMServer(["192.0.2.10"], recorder, {USER: PASSWORD})

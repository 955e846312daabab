"""Run the OS collector on one server over WinRM: one shell, one command, nothing on stdin.

The command (``powershell.exe ... -EncodedCommand <the whole collector>``, built by
:mod:`cas_conformance.collector.script` under cmd.exe's 8,191 characters) carries everything; no
stdin is sent (PowerShell 2.0's host would read it as pipeline input). pywinrm's own receive loop retries WS-Man
OperationTimeout faults for ever; this module keeps an overall deadline (``winrm_timeout``) and a
byte limit on the output, so a stalled or chatty server becomes a clear error.

Over HTTPS the channel speaks TLS 1.0 to 1.3 with the chain and the name verified
(:mod:`~cas_conformance.channels.tls_client`, shared with Exchange remote PowerShell): Windows
Server 2008 R2 ships with TLS 1.2 disabled, so a server that offers nothing newer is still reached,
and the caller is warned, naming the server. A failed handshake says which of chain, name, dates
or protocol version failed, and which inventory variable fixes it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
)
from winrm.protocol import Protocol
from winrm.transport import Transport

from cas_conformance.channels import kerberos, tls_client
from cas_conformance.channels.dialer import SESSION_BUILD_LOCK, Dialer
from cas_conformance.domain.secret import Secret
from cas_conformance.errors import CasConformanceWarning, CollectionError

MAX_OUTPUT_BYTES = 32 * 1024 * 1024
DEFAULT_PORTS = {"http": 5985, "https": 5986}


@dataclass(frozen=True)
class CommandOutput:
    stdout: str
    stderr: str
    exit_code: int


@dataclass(frozen=True)
class WinrmKerberos:
    """Kerberos for one WinRM target (``transport`` ``kerberos``)."""

    #: what MIT Kerberos reads for this host (configured before the connection)
    krb5: kerberos.Krb5Config = field(default_factory=kerberos.Krb5Config)
    #: the ticket of the user's own ``kinit`` (their default credential cache): no password
    manual: bool = False
    delegation: bool = False
    #: the host name in the service principal when it is not the connected name
    hostname_override: str | None = None
    service: str = "HTTP"


@dataclass(frozen=True)
class WinrmTarget:
    """One server's WinRM endpoint and how to log on to it."""

    #: the server's name (in errors and warnings; the SPN's host when ``address`` is an IP address)
    name: str
    address: str
    port: int | None
    scheme: str
    transport: str
    user: str | None
    password: Secret | None = field(repr=False)
    cert_validation: bool = True
    ca_trust_path: str | None = None
    #: the overall deadline of one collection, in seconds
    timeout: float = 120.0
    kerberos: WinrmKerberos = field(default_factory=WinrmKerberos)


def endpoint_url(target: WinrmTarget) -> str:
    port = target.port or DEFAULT_PORTS[target.scheme]
    host = f"[{target.address}]" if ":" in target.address else target.address
    return f"{target.scheme}://{host}:{port}/wsman"


class _DialingTransport(Transport):
    """pywinrm's transport with every connection opened through our dialer (inventory resolvers
    and connect_to) and the channels' TLS context, mounted on its requests session before the
    first request."""

    dialer: Dialer
    tls_context: ssl.SSLContext

    def _send_message_request(
        self, session: requests.Session, prepared_request: requests.PreparedRequest
    ) -> requests.Response:
        if not getattr(session, "_cas_conformance_dialer", False):
            session.trust_env = False  # proxies are never taken from the environment (proxy=None)
            tls_client.mount(session, self.dialer, self.tls_context)
            session._cas_conformance_dialer = True  # type: ignore[attr-defined]
        return super()._send_message_request(session, prepared_request)

    def build_session(self) -> requests.Session:
        """pywinrm's session, with Kerberos on pyspnego (pywinrm's own needs pykerberos)."""
        if self.session or self.auth_method != "kerberos":
            with SESSION_BUILD_LOCK:
                return super().build_session()
        session = requests.Session()
        session.proxies = {"no_proxy": "*"}
        verify = self.server_cert_validation == "validate"
        session.verify = (self.ca_trust_path or True) if verify else False
        session.auth = kerberos.KerberosAuth(
            self.username,
            self.password,
            service=self.service,
            hostname_override=self.kerberos_hostname_override,
            delegate=self.kerberos_delegation,
        )
        session.headers.update(self.default_headers)
        self.session = session
        if self.message_encryption == "always" or (
            self.message_encryption == "auto" and not self.endpoint.lower().startswith("https")
        ):
            self.setup_encryption(session)
        return session


CREDSSP_HINT = "install it with: .venv/bin/pip install 'cas-conformance[credssp]' (requests-credssp)"


def _require_credssp(host: str) -> None:
    """pywinrm's CredSSP transport needs requests-credssp: say what to install when it is missing."""
    try:
        import requests_credssp  # noqa: F401
    except ImportError:
        raise CollectionError(
            host,
            "winrm",
            f"ansible_winrm_transport = credssp needs the requests-credssp library: {CREDSSP_HINT}",
        ) from None


def _protocol(
    target: WinrmTarget, dialer: Dialer, tls_versions: tls_client.TlsVersions | None = None
) -> Protocol:
    manual_kerberos = target.transport == "kerberos" and target.kerberos.manual
    if target.transport == "kerberos":
        try:
            kerberos.require_libraries()
        except kerberos.KerberosClientError as exc:
            raise CollectionError(target.name, "winrm", str(exc)) from None
        kerberos.configure([target.kerberos.krb5])
    if target.transport == "credssp":
        _require_credssp(target.name)
    if target.password is None and not manual_kerberos:
        raise CollectionError(
            target.name, "winrm", "no password: set CAS_CONFORMANCE_PASSWORD or use --ask-pass"
        )
    if not target.user:
        raise CollectionError(target.name, "winrm", "no user name: set ansible_user in the inventory")
    if target.transport == "basic" and target.scheme != "https":
        raise CollectionError(target.name, "winrm", "Basic authentication is only allowed over HTTPS")
    # Every single HTTP exchange stays inside the overall deadline; pywinrm wants read > operation.
    operation_timeout = max(1, min(20, int(target.timeout // 2)))
    read_timeout = max(operation_timeout + 1, min(operation_timeout + 10, int(target.timeout)))
    kwargs: dict[str, Any] = {
        "endpoint": endpoint_url(target),
        "transport": target.transport,
        "username": target.user,
        "password": None if manual_kerberos or target.password is None else target.password.reveal(),
        "server_cert_validation": "validate" if target.cert_validation else "ignore",
        "ca_trust_path": target.ca_trust_path,
        "operation_timeout_sec": operation_timeout,
        "read_timeout_sec": read_timeout,
        "proxy": None,
    }
    if target.scheme == "http":
        kwargs["message_encryption"] = "always"
    if target.transport == "kerberos":
        kwargs["service"] = target.kerberos.service
        kwargs["kerberos_delegation"] = target.kerberos.delegation
        kwargs["kerberos_hostname_override"] = _spn_host(target)
    protocol = Protocol(**kwargs)
    protocol.transport.__class__ = _DialingTransport
    transport: Any = protocol.transport
    transport.dialer = tls_versions.observing(dialer) if tls_versions else dialer
    transport.tls_context = tls_client.client_context(
        verify=target.cert_validation, ca_path=target.ca_trust_path
    )
    return protocol


def _spn_host(target: WinrmTarget) -> str | None:
    """The host of the service principal when it is not the connected name: the override, else the
    inventory name when ``address`` is an IP address (no SPN is registered for an address)."""
    if target.kerberos.hostname_override is not None:
        return target.kerberos.hostname_override
    try:
        ipaddress.ip_address(target.address)
    except ValueError:
        return None
    return None if target.address == target.name else target.name


_UNRESOLVED = re.compile(r"\S+ does not resolve \([^)]*\)")


def _reason(exc: BaseException, transport: str = "ntlm", host: str = "the WinRM endpoint") -> str:
    """A short, password-free reason for a failed WinRM exchange with *host* (the connected name)."""
    unresolved = _UNRESOLVED.search(str(exc))
    if unresolved:
        return unresolved.group(0)
    if isinstance(exc, kerberos.KerberosClientError):
        return str(exc)
    if isinstance(exc, InvalidCredentialsError) and transport == "kerberos":
        return (
            "authentication failed (HTTP 401): the server refused the Kerberos ticket; check its SPN "
            "(HTTP/<host name>) and that the account may log on over WinRM"
        )
    if isinstance(exc, InvalidCredentialsError):
        return "authentication failed (HTTP 401): check the user name and password"
    if isinstance(exc, WinRMTransportError):
        return f"WinRM answered HTTP {exc.code}"
    if isinstance(exc, requests.exceptions.SSLError):
        return tls_client.describe_failure(host, str(exc), service="WinRM")
    if isinstance(exc, requests.exceptions.ConnectTimeout | socket.timeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "timed out waiting for the WinRM answer"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "timed out" in text:
            return "connection timed out"
        return "connection failed"
    if isinstance(exc, WinRMError):
        return f"WinRM error: {exc}"
    return f"{exc.__class__.__name__}: {exc}"


def _warn(text: str) -> None:
    warnings.warn(CasConformanceWarning(text), stacklevel=3)


def run_collector(
    target: WinrmTarget,
    dialer: Dialer,
    command_line: tuple[str, tuple[str, ...]],
    *,
    warn: Callable[[str], None] = _warn,
) -> CommandOutput:
    """Run *command_line* (program, arguments); raise CollectionError on any failure to run it.

    *warn* gets the warning when the server spoke TLS 1.0/1.1 only (a CasConformanceWarning by default).
    """
    deadline = time.monotonic() + target.timeout
    tls_versions = tls_client.TlsVersions()
    command, arguments = command_line
    shell_id: str | None = None
    try:
        protocol = _protocol(target, dialer, tls_versions)  # reads the trust store
        shell_id = protocol.open_shell(codepage=65001)
        old_tls = tls_versions.warning(target.name, f"WinRM {endpoint_url(target)}")
        if old_tls is not None:
            warn(old_tls)
        command_id = protocol.run_command(shell_id, command, list(arguments))
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        size = 0
        done = False
        exit_code = -1
        while not done:
            if time.monotonic() > deadline:
                raise CollectionError(
                    target.name,
                    "winrm",
                    f"WinRM {endpoint_url(target)}: timed out after {target.timeout:g} s (winrm_timeout)",
                )
            try:
                out, err, exit_code, done = protocol.get_command_output_raw(shell_id, command_id)
            except WinRMOperationTimeoutError:
                continue
            size += len(out) + len(err)
            if size > MAX_OUTPUT_BYTES:
                raise CollectionError(
                    target.name, "winrm", f"output larger than {MAX_OUTPUT_BYTES} bytes: cut off"
                )
            stdout.append(out)
            stderr.append(err)
        protocol.cleanup_command(shell_id, command_id)
    except CollectionError:
        raise
    except Exception as exc:  # every transport failure becomes a clear, password-free reason
        raise CollectionError(
            target.name,
            "winrm",
            f"WinRM {endpoint_url(target)}: {_reason(exc, target.transport, target.address)}",
        ) from None
    finally:
        if shell_id is not None:
            with contextlib.suppress(Exception):
                protocol.close_shell(shell_id)
    return CommandOutput(
        b"".join(stdout).decode("utf-8", errors="replace"),
        b"".join(stderr).decode("utf-8", errors="replace"),
        exit_code,
    )

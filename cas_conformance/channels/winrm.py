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
from dataclasses import dataclass
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
from cas_conformance.errors import CasConformanceWarning, CollectionError
from cas_conformance.settings import HostSettings

MAX_OUTPUT_BYTES = 32 * 1024 * 1024
DEFAULT_PORTS = {"http": 5985, "https": 5986}


@dataclass(frozen=True)
class CommandOutput:
    stdout: str
    stderr: str
    exit_code: int


def endpoint_url(settings: HostSettings) -> str:
    port = settings.port or DEFAULT_PORTS[settings.scheme]
    host = f"[{settings.address}]" if ":" in settings.address else settings.address
    return f"{settings.scheme}://{host}:{port}/wsman"


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
    settings: HostSettings, dialer: Dialer, tls_versions: tls_client.TlsVersions | None = None
) -> Protocol:
    manual_kerberos = settings.transport == "kerberos" and settings.kerberos.kinit_mode == "manual"
    if settings.transport == "kerberos":
        try:
            kerberos.require_libraries()
        except kerberos.KerberosClientError as exc:
            raise CollectionError(settings.name, "winrm", str(exc)) from None
        kerberos.configure([settings.kerberos])
    if settings.transport == "credssp":
        _require_credssp(settings.name)
    if settings.password is None and not manual_kerberos:
        raise CollectionError(
            settings.name, "winrm", "no password: set CAS_CONFORMANCE_PASSWORD or use --ask-pass"
        )
    if not settings.user:
        raise CollectionError(settings.name, "winrm", "no user name: set ansible_user in the inventory")
    if settings.transport == "basic" and settings.scheme != "https":
        raise CollectionError(settings.name, "winrm", "Basic authentication is only allowed over HTTPS")
    # Every single HTTP exchange stays inside the overall deadline; pywinrm wants read > operation.
    operation_timeout = max(1, min(20, int(settings.winrm_timeout // 2)))
    read_timeout = max(operation_timeout + 1, min(operation_timeout + 10, int(settings.winrm_timeout)))
    kwargs: dict[str, Any] = {
        "endpoint": endpoint_url(settings),
        "transport": settings.transport,
        "username": settings.user,
        "password": None if manual_kerberos or settings.password is None else settings.password.reveal(),
        "server_cert_validation": "validate" if settings.cert_validation else "ignore",
        "ca_trust_path": settings.ca_trust_path,
        "operation_timeout_sec": operation_timeout,
        "read_timeout_sec": read_timeout,
        "proxy": None,
    }
    if settings.scheme == "http":
        kwargs["message_encryption"] = "always"
    if settings.transport == "kerberos":
        kwargs["service"] = settings.kerberos.service
        kwargs["kerberos_delegation"] = settings.kerberos.delegation
        kwargs["kerberos_hostname_override"] = _spn_host(settings)
    protocol = Protocol(**kwargs)
    protocol.transport.__class__ = _DialingTransport
    transport: Any = protocol.transport
    transport.dialer = tls_versions.observing(dialer) if tls_versions else dialer
    transport.tls_context = tls_client.client_context(
        verify=settings.cert_validation, ca_path=settings.ca_trust_path
    )
    return protocol


def _spn_host(settings: HostSettings) -> str | None:
    """The host of the service principal when it is not the connected name: the override, else the
    inventory name when ``ansible_host`` is an IP address (no SPN is registered for an address)."""
    if settings.kerberos.hostname_override is not None:
        return settings.kerberos.hostname_override
    try:
        ipaddress.ip_address(settings.address)
    except ValueError:
        return None
    return None if settings.address == settings.name else settings.name


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
    settings: HostSettings,
    dialer: Dialer,
    command_line: tuple[str, tuple[str, ...]],
    *,
    warn: Callable[[str], None] = _warn,
) -> CommandOutput:
    """Run *command_line* (program, arguments); raise CollectionError on any failure to run it.

    *warn* gets the warning when the server spoke TLS 1.0/1.1 only (a CasConformanceWarning by default).
    """
    deadline = time.monotonic() + settings.winrm_timeout
    tls_versions = tls_client.TlsVersions()
    command, arguments = command_line
    shell_id: str | None = None
    try:
        protocol = _protocol(settings, dialer, tls_versions)  # reads the trust store
        shell_id = protocol.open_shell(codepage=65001)
        old_tls = tls_versions.warning(settings.name, f"WinRM {endpoint_url(settings)}")
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
                    settings.name,
                    "winrm",
                    f"WinRM {endpoint_url(settings)}: timed out after {settings.winrm_timeout:g} s (winrm_timeout)",
                )
            try:
                out, err, exit_code, done = protocol.get_command_output_raw(shell_id, command_id)
            except WinRMOperationTimeoutError:
                continue
            size += len(out) + len(err)
            if size > MAX_OUTPUT_BYTES:
                raise CollectionError(
                    settings.name, "winrm", f"output larger than {MAX_OUTPUT_BYTES} bytes: cut off"
                )
            stdout.append(out)
            stderr.append(err)
        protocol.cleanup_command(shell_id, command_id)
    except CollectionError:
        raise
    except Exception as exc:  # every transport failure becomes a clear, password-free reason
        raise CollectionError(
            settings.name,
            "winrm",
            f"WinRM {endpoint_url(settings)}: {_reason(exc, settings.transport, settings.address)}",
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

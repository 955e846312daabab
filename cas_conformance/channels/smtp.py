"""The SMTP probe behind CONN-07: banner, EHLO extensions and whether STARTTLS completes.

It stops before MAIL FROM, so it never sends or relays a message. The STARTTLS handshake uses an
unverified context on purpose: the certificate is judged by the TLS channel and its checks, and
this probe only answers "does the server upgrade the session".
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Any

from cas_conformance.channels.dialer import Dialer
from cas_conformance.domain.records.smtp import SmtpProbe as SmtpProbe
from cas_conformance.errors import CollectionError


class _DialerSMTP(smtplib.SMTP):
    """smtplib.SMTP whose TCP connection is opened by the run's dialer."""

    def __init__(self, dialer: Dialer, *, timeout: float, local_hostname: str) -> None:
        self._dialer = dialer
        super().__init__(timeout=timeout, local_hostname=local_hostname)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host  # STARTTLS sends it as SNI; smtplib sets it only when given to __init__
        return self._dialer.connect(host, port, timeout)


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _extensions(ehlo_message: bytes) -> tuple[str, ...]:
    """The keyword lines of an EHLO reply (its first line is the server's greeting)."""
    lines = ehlo_message.decode("latin-1").splitlines()[1:]
    return tuple(line.strip() for line in lines if line.strip())


def _describe(exc: BaseException, timeout: float) -> str:
    # smtplib turns a socket error while reading a reply into SMTPServerDisconnected; the socket
    # error itself is still there as the exception's context
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for error in chain:
        if isinstance(error, CollectionError):
            return error.reason
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, TimeoutError):
            return f"timed out after {timeout:g} s"
        if isinstance(error, ConnectionResetError):
            return "connection reset by peer"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"server closed the connection: {exc}" if str(exc) else "server closed the connection"
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode("latin-1", "replace") if isinstance(reply, bytes) else str(reply)
        return f"{exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}"


def probe_smtp(
    dialer: Dialer, host: str, *, port: int = 25, timeout: float, helo: str = "cas-conformance.invalid"
) -> SmtpProbe:
    """Greet *host*:*port* over SMTP and try STARTTLS; network outcomes land in ``error``."""
    fields: dict[str, Any] = {"host": host, "port": port}
    client = _DialerSMTP(dialer, timeout=timeout, local_hostname=helo)
    stage = "connecting"
    try:
        code, message = client.connect(host, port)
        fields["banner_code"] = code
        fields["banner"] = message.decode("latin-1", "replace")
        if code != 220:
            return SmtpProbe(**fields, error=f"banner {code}, not 220")
        stage = "EHLO"
        code, message = client.ehlo(helo)
        if code != 250:
            return SmtpProbe(**fields, error=f"EHLO answered {code} {message.decode('latin-1', 'replace')}")
        fields["extensions"] = _extensions(message)
        fields["starttls_offered"] = client.has_extn("starttls")
        if fields["starttls_offered"]:
            stage = "STARTTLS"
            client.starttls(context=_unverified_context())
            stage = "EHLO after STARTTLS"
            code, message = client.ehlo(helo)
            if code != 250:
                return SmtpProbe(**fields, error=f"EHLO over TLS answered {code}")
            fields["starttls_ok"] = True
        _quit(client)
        return SmtpProbe(**fields)
    except (OSError, smtplib.SMTPException, CollectionError) as exc:
        detail = _describe(exc, timeout)
        return SmtpProbe(**fields, error=detail if stage == "connecting" else f"{stage}: {detail}")
    finally:
        client.close()


def _quit(client: smtplib.SMTP) -> None:
    """Say goodbye; a server that drops the line at QUIT has already answered all we asked."""
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()

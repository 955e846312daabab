"""HTTP authentication (Basic, NTLM under Negotiate) and WinRM message encryption for the lab's WinRM server.

pyspnego's pure-Python NTLM acceptor cannot be handed credentials: it reads the smbpasswd-style file
named by the environment variable ``NTLM_USER_FILE``, when the acceptor is created and again when it
checks the client's Authenticate message. Several lab servers (each with its own users, possibly the
same user name with different passwords) may run in one process, so each server writes its users to
its own private file (mode 0600 in a 0700 directory, NT hashes only, never the password) and every
acceptor call runs under one process-wide lock with ``NTLM_USER_FILE`` pointing at that server's file.
Between calls the variable is left set (to the previous value, or empty), so after the first call it is
only ever replaced, never added or removed: C code reading the environment in other threads never sees
the environment array reallocated.

NTLM authenticates a TCP connection, Basic a single request: :class:`ConnectionAuthenticator` holds one
connection's state and decides each request's user (or the 401 to answer). :func:`decrypt_message` and
:func:`encrypt_message` implement MS-WSMV's ``multipart/encrypted;protocol="application/HTTP-SPNEGO-
session-encrypted"`` framing with the context's ``unwrap_winrm``/``wrap_winrm``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import re
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import spnego
import spnego.exceptions
from spnego._ntlm_raw.crypto import ntowfv1

from cas_conformance.errors import LabError

if TYPE_CHECKING:
    from cas_conformance.lab.auth.credssp import CredSSPConnectionAuth
    from cas_conformance.lab.auth.kerberos import KerberosConnectionAuth, KerberosKeytab

log = logging.getLogger(__name__)

ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS_ENCRYPTED_PROTOCOL = "application/HTTP-Kerberos-session-encrypted"  # the ``Kerberos`` scheme

_BOUNDARY = b"--Encrypted Boundary"
_NTLM_SIGNATURE = b"NTLMSSP\x00"
_ENV_NAME = "NTLM_USER_FILE"
_ENV_LOCK = threading.Lock()
_LENGTH = re.compile(rb"Length=(\d+)")


def encrypted_content_type(protocol: str = ENCRYPTED_PROTOCOL) -> str:
    return f'multipart/encrypted;protocol="{protocol}";boundary="Encrypted Boundary"'


class SealingContext(Protocol):
    """An established NTLM (pyspnego) or Kerberos (``auth.kerberos``) context, as message encryption uses it."""

    def wrap_winrm(self, data: bytes) -> Any: ...  # .header (the signature) and .data

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes: ...


class NtlmRejected(Exception):
    """The client's NTLM token was not accepted (bad password, unknown user, malformed token)."""


class EncryptionError(Exception):
    """An encrypted WinRM message could not be unwrapped (bad framing, signature or sequence)."""


class NtlmCredentialStore:
    """One server's users as an smbpasswd file for pyspnego's acceptor; remove it with :meth:`close`."""

    def __init__(self, credentials: Mapping[str, str]) -> None:
        lines = []
        for index, (user, password) in enumerate(credentials.items()):
            if not user or any(ch in user for ch in ":\r\n"):
                raise LabError(f"NTLM user names may not be empty or contain ':' or line breaks: {user!r}")
            nt_hash = base64.b16encode(ntowfv1(password)).decode("ascii")
            lines.append(f"{user}:{1000 + index}:{'0' * 32}:{nt_hash}:[U]:LCT-00000000\n")
        self._directory = tempfile.mkdtemp(prefix="cas-lab-ntlm-")
        self.path = os.path.join(self._directory, "users.smbpasswd")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Point pyspnego at this store for the duration (process-wide lock held)."""
        with _ENV_LOCK:
            previous = os.environ.get(_ENV_NAME, "")
            os.environ[_ENV_NAME] = self.path
            try:
                yield
            finally:
                os.environ[_ENV_NAME] = previous


def _message_type(token: bytes) -> int:
    if len(token) < 12 or not token.startswith(_NTLM_SIGNATURE):
        raise NtlmRejected("not a raw NTLM token")
    return int(struct.unpack("<I", token[8:12])[0])


class NtlmConnectionAuth:
    """The NTLM handshake and resulting security context of one TCP connection."""

    def __init__(self, store: NtlmCredentialStore) -> None:
        self._store = store
        self._pending: spnego.ContextProxy | None = None
        self.context: spnego.ContextProxy | None = None
        self.user: str | None = None

    def step(self, token: bytes) -> bytes | None:
        """Consume a client token: returns the CHALLENGE to send back, or None once authenticated.

        A NEGOTIATE message restarts the handshake (dropping any earlier authentication of the
        connection, as HTTP.sys does); an AUTHENTICATE message completes it or raises NtlmRejected.
        """
        kind = _message_type(token)
        if kind == 1:
            self.context = None
            self.user = None
            try:
                with self._store.active():
                    context = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
                    challenge = context.step(token)
            except Exception as exc:
                log.debug("NTLM negotiate rejected: %s", type(exc).__name__)
                raise NtlmRejected("malformed NTLM negotiate message") from exc
            self._pending = context
            return challenge or b""
        if kind == 3:
            pending, self._pending = self._pending, None
            if pending is None:
                raise NtlmRejected("NTLM authenticate message without a preceding negotiate")
            try:
                with self._store.active():
                    pending.step(token)
            except Exception as exc:
                # Wrong password, unknown user and malformed tokens all end here; the type name is
                # enough to tell them apart in a debug log and holds nothing secret.
                log.debug("NTLM authentication rejected: %s", type(exc).__name__)
                raise NtlmRejected("NTLM authentication failed") from exc
            if not pending.complete:
                raise NtlmRejected("NTLM handshake did not complete")
            self.context = pending
            self.user = pending.client_principal or ""
            return None
        raise NtlmRejected(f"unexpected NTLM message type {kind}")


class LabUsers:
    """A server's users: passwords in memory for Basic, NT hashes on disk for the NTLM acceptor."""

    def __init__(self, credentials: Mapping[str, str]) -> None:
        self._passwords = {user.lower(): password for user, password in credentials.items()}
        self.ntlm_store = NtlmCredentialStore(credentials)

    def __repr__(self) -> str:
        return f"LabUsers({sorted(self._passwords)!r})"

    def password_matches(self, user: str, password: str) -> bool:
        expected = self._passwords.get(user.lower())
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        )

    def close(self) -> None:
        self.ntlm_store.close()


@dataclass(frozen=True)
class AuthOutcome:
    """A request's user, or (user None) the WWW-Authenticate values of the 401 to answer it with."""

    user: str | None
    challenges: tuple[str, ...] = ()
    answer: str | None = None  # WWW-Authenticate of the success (Kerberos mutual authentication)


class ConnectionAuthenticator:
    """Authentication of one TCP connection as a Windows WinRM listener does it.

    HTTPS offers ``Negotiate`` and ``Basic realm="WSMAN"``; HTTP offers ``Negotiate`` only, so a Basic
    header there is refused. With a *kerberos* keytab it also offers ``Kerberos`` (as WinRM does when
    its Kerberos auth is on) and accepts Kerberos under both schemes: a ``Negotiate`` token that is not
    raw NTLM (SPNEGO, or a raw Kerberos AP-REQ as pykerberos sends) goes to the Kerberos acceptor.
    NTLM and Kerberos authenticate the connection: later requests on it carry no Authorization header.
    With *ntlm* false (Exchange's ``/PowerShell``, whose kerbauth module takes Kerberos only) an NTLM
    token under ``Negotiate`` gets the 401 with the offers, as a bad token does. With *credssp* (the
    WinRM HTTPS listener, CredSSP enabled on the service) HTTPS also offers and accepts ``CredSSP``
    (:mod:`cas_conformance.lab.auth.credssp`), whose logon holds the delegated credentials.
    """

    def __init__(
        self,
        users: LabUsers,
        tls: bool,
        kerberos: KerberosKeytab | None = None,
        *,
        ntlm: bool = True,
        credssp: bool = False,
    ) -> None:
        self._users = users
        self._tls = tls
        self._ntlm_allowed = ntlm
        self._credssp_allowed = credssp and tls
        self._credssp: CredSSPConnectionAuth | None = None  # created on the first CredSSP token
        self._ntlm = NtlmConnectionAuth(users.ntlm_store)
        self._kerberos_keytab = kerberos
        self._kerberos: KerberosConnectionAuth | None = None  # created on the first Kerberos token
        self._scheme = "negotiate"  # of the connection's established context

    @property
    def offers(self) -> tuple[str, ...]:
        schemes = ("Negotiate", "Kerberos") if self._kerberos_keytab is not None else ("Negotiate",)
        if self._credssp_allowed:
            schemes = (*schemes, "CredSSP")
        return (*schemes, 'Basic realm="WSMAN"') if self._tls else schemes

    @property
    def delegated(self) -> bool:
        """Whether the connection's logon can authenticate onward: the client delegated its
        credentials (CredSSP) or its ticket-granting ticket (Kerberos with delegation)."""
        if self._credssp is not None and self._credssp.user is not None:
            return self._credssp.delegated
        if (
            self._kerberos is not None
            and self._kerberos.context is not None
            and self._kerberos.user is not None
        ):
            return bool(self._kerberos.context.delegated)
        return False

    @property
    def ntlm_context(self) -> spnego.ContextProxy | None:
        """The connection's established NTLM context (for message encryption), if any."""
        return self._ntlm.context

    @property
    def context(self) -> SealingContext | None:
        """The connection's established NTLM or Kerberos context (``wrap_winrm``/``unwrap_winrm``)."""
        if self._kerberos is not None and self._kerberos.context is not None:
            return self._kerberos.context
        return self._ntlm.context

    @property
    def encryption_protocol(self) -> str:
        """The MIME protocol of encrypted messages on this connection (by the scheme that authenticated it)."""
        return KERBEROS_ENCRYPTED_PROTOCOL if self._scheme == "kerberos" else ENCRYPTED_PROTOCOL

    def _user(self) -> str | None:
        if self._credssp is not None and self._credssp.user is not None:
            return self._credssp.user
        if self._kerberos is not None and self._kerberos.user is not None:
            return str(self._kerberos.user)
        return self._ntlm.user

    def authenticate(self, authorization: str | None) -> AuthOutcome:
        if not authorization:
            user = self._user()
            return AuthOutcome(user) if user is not None else AuthOutcome(None, self.offers)
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and self._tls:
            user, password = _basic_credentials(value)
            if user is not None and password is not None and self._users.password_matches(user, password):
                return AuthOutcome(user)
            return AuthOutcome(None, self.offers)
        if scheme not in ("negotiate", "kerberos") and not (scheme == "credssp" and self._credssp_allowed):
            return AuthOutcome(None, self.offers)
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return AuthOutcome(None, self.offers)
        if scheme == "credssp":
            return self._credssp_step(token)
        if scheme == "negotiate" and (token.startswith(_NTLM_SIGNATURE) or self._kerberos_keytab is None):
            return self._ntlm_step(token) if self._ntlm_allowed else AuthOutcome(None, self.offers)
        if self._kerberos_keytab is None:
            return AuthOutcome(None, self.offers)
        return self._kerberos_step(token, scheme)

    def _forget(self, keeping: str) -> None:
        """Drop the connection's authentication by every scheme but *keeping*, whose handshake
        began (that scheme's own step restarts its context)."""
        if keeping != "ntlm":
            self._ntlm.context = self._ntlm.user = None
        if keeping != "kerberos" and self._kerberos is not None:
            self._kerberos.context = self._kerberos.user = None
        if keeping != "credssp":
            self._credssp = None

    def _credssp_step(self, token: bytes) -> AuthOutcome:
        from cas_conformance.lab.auth.credssp import CredSSPConnectionAuth, CredSSPRejected

        if self._credssp is None or self._credssp.user is not None:  # a new CredSSP handshake
            self._forget("credssp")
            self._credssp = CredSSPConnectionAuth(self._users.ntlm_store)
        try:
            answer = self._credssp.step(token)
        except CredSSPRejected:
            self._credssp = None
            return AuthOutcome(None, self.offers)
        encoded = f"CredSSP {base64.b64encode(answer).decode('ascii')}" if answer else None
        if self._credssp.user is None:
            return AuthOutcome(None, (encoded or "CredSSP",))
        self._scheme = "credssp"
        return AuthOutcome(self._credssp.user, answer=encoded)

    def _ntlm_step(self, token: bytes) -> AuthOutcome:
        self._forget("ntlm")
        try:
            challenge = self._ntlm.step(token)
        except NtlmRejected:
            return AuthOutcome(None, self.offers)
        if challenge is not None:
            return AuthOutcome(None, ("Negotiate " + base64.b64encode(challenge).decode("ascii"),))
        self._scheme = "negotiate"
        return AuthOutcome(self._ntlm.user)

    def _kerberos_step(self, token: bytes, scheme: str) -> AuthOutcome:
        from cas_conformance.lab.auth.kerberos import KerberosConnectionAuth, KerberosRejected

        assert self._kerberos_keytab is not None
        self._forget("kerberos")
        if self._kerberos is None:
            self._kerberos = KerberosConnectionAuth(self._kerberos_keytab)
        try:
            answer = self._kerberos.step(token)
        except KerberosRejected:
            return AuthOutcome(None, self.offers)
        self._scheme = scheme
        header = "Kerberos" if scheme == "kerberos" else "Negotiate"
        encoded = f"{header} {base64.b64encode(answer).decode('ascii')}" if answer else None
        return AuthOutcome(self._kerberos.user, answer=encoded)


def _basic_credentials(value: str) -> tuple[str | None, str | None]:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, separator, password = text.partition(":")
    return (user, password) if separator else (None, None)


def is_encrypted(content_type: str) -> bool:
    lowered = content_type.lower()
    return lowered.startswith("multipart/encrypted") and any(
        protocol.lower() in lowered for protocol in (ENCRYPTED_PROTOCOL, KERBEROS_ENCRYPTED_PROTOCOL)
    )


def decrypt_message(context: SealingContext, body: bytes, protocol: str = ENCRYPTED_PROTOCOL) -> bytes:
    """The SOAP text inside one MS-WSMV encrypted MIME body (*context*: NTLM or Kerberos)."""
    try:
        if not body.startswith(_BOUNDARY + b"\r\n"):
            raise EncryptionError("encrypted body does not start with the MIME boundary")
        header, separator, rest = body[len(_BOUNDARY) + 2 :].partition(_BOUNDARY + b"\r\n")
        match = _LENGTH.search(header)
        if not separator or match is None or protocol.encode() not in header:
            raise EncryptionError("encrypted body has no protocol/OriginalContent header part")
        octet_header = b"\tContent-Type: application/octet-stream\r\n"
        trailer = _BOUNDARY + b"--\r\n"
        if not rest.startswith(octet_header) or not rest.endswith(trailer):
            raise EncryptionError("encrypted body has no application/octet-stream part")
        payload = rest[len(octet_header) : -len(trailer)]
        (signature_length,) = struct.unpack("<I", payload[:4])
        signature = payload[4 : 4 + signature_length]
        plain = context.unwrap_winrm(signature, payload[4 + signature_length :])
    except EncryptionError:
        raise
    except Exception as exc:  # whatever garbage or tampering the client sent, it is the client's fault
        raise EncryptionError(f"encrypted body could not be unwrapped: {type(exc).__name__}") from exc
    if len(plain) != int(match.group(1)):
        raise EncryptionError("decrypted length does not match OriginalContent Length")
    return plain


@dataclass(frozen=True)
class Opened:
    """A request body after :func:`open_request`: the SOAP text (None: answer *status* instead)."""

    body: bytes | None
    sealed: bool = False
    status: int = 200
    close: bool = False

    @property
    def challenge(self) -> bool:
        """The refusal is a 401 that repeats the connection's offers (an unsealed message over HTTP)."""
        return self.status == 401


def open_request(
    context: SealingContext | None, protocol: str, content_type: str, body: bytes, *, tls: bool
) -> Opened:
    """What a Windows listener makes of one authenticated request body: a sealed one is unwrapped
    with the connection's *context*; over plain HTTP an unsealed message is refused with a 401
    (``AllowUnencrypted = false``, WinRM's default and IIS-hosted WinRM's too); the empty body
    pywinrm and pypsrp send to set up encryption is accepted (answered 200 empty)."""
    if is_encrypted(content_type):
        if context is None:
            return Opened(None, status=400)
        try:
            return Opened(decrypt_message(context, body, protocol), sealed=True)
        except EncryptionError as exc:
            log.debug("encrypted WS-Management message rejected: %s", exc)
            return Opened(None, status=400, close=True)
    if body and not tls:
        return Opened(None, status=401)
    return Opened(body)


def seal_reply(
    context: SealingContext | None, protocol: str, answer: bytes, *, sealed: bool
) -> tuple[bytes, str]:
    """The reply body and Content-Type: sealed with *context* when the request was."""
    if sealed and context is not None:
        return encrypt_message(context, answer, protocol), encrypted_content_type(protocol)
    return answer, "application/soap+xml;charset=UTF-8"


def encrypt_message(context: SealingContext, plain: bytes, protocol: str = ENCRYPTED_PROTOCOL) -> bytes:
    """*plain* wrapped as the MS-WSMV encrypted MIME body (Content-Type: encrypted_content_type(protocol))."""
    wrapped = context.wrap_winrm(plain)
    header: bytes = wrapped.header
    sealed: bytes = wrapped.data
    return (
        _BOUNDARY + b"\r\n"
        b"\tContent-Type: " + protocol.encode() + b"\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(plain)).encode()
        + b"\r\n"
        + _BOUNDARY
        + b"\r\n"
        b"\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<I", len(header))
        + header
        + sealed
        + _BOUNDARY
        + b"--\r\n"
    )

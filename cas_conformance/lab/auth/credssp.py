"""CredSSP acceptance (MS-CSSP) for the lab's WinRM HTTPS listener: the ``CredSSP`` HTTP scheme.

CredSSP runs a TLS handshake inside the HTTP ``Authorization``/``WWW-Authenticate`` exchange, then
SPNEGO (NTLM here) inside TSRequest messages over that TLS channel, binds the channel with the
server's public key, and finally hands the server the user's credentials (TSCredentials): what lets
the WinRM logon authenticate to another machine (a domain controller) in the user's name, the
second hop NTLM and Kerberos without delegation cannot make. pyspnego implements the acceptor side
(``spnego.server(protocol="credssp")``); its inner NTLM acceptor reads the lab's users from
``NTLM_USER_FILE``, so every step runs with the server's
:class:`~cas_conformance.lab.auth.ntlm.NtlmCredentialStore` active (passed in: this module
imports no other lab module).

On a real server CredSSP is off until an administrator enables it (``Enable-WSManCredSSP -Role
Server``, i.e. ``winrm/config/service/auth CredSSP=true``); the client must also be allowed to
delegate (pywinrm ``transport='credssp'``). The delegated password stays inside the acceptor's
context: the lab only records *that* credentials were delegated, never the password.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Protocol

import spnego

log = logging.getLogger(__name__)


class NtlmUsers(Protocol):
    """The server's NTLM users (an ``auth.ntlm.NtlmCredentialStore``): :meth:`active` points
    pyspnego's NTLM acceptor at them for the duration."""

    def active(self) -> AbstractContextManager[None]: ...


class CredSSPRejected(Exception):
    """The client's CredSSP token was not accepted (bad password, broken TLS, malformed TSRequest)."""


class CredSSPConnectionAuth:
    """One CredSSP handshake on one TCP connection (HTTP.sys keeps the connection authenticated
    afterwards; a new handshake on it gets a new object, see ``auth.ntlm``)."""

    def __init__(self, store: NtlmUsers) -> None:
        self._store = store
        self._pending: spnego.ContextProxy | None = None
        self.user: str | None = None
        self.delegated = False

    def step(self, token: bytes) -> bytes | None:
        """Consume a client token: the token to answer with (401 ``CredSSP <token>``), or None once
        the client has delegated its credentials (the request is then served)."""
        with self._store.active():
            if self._pending is None:
                self._pending = spnego.server(protocol="credssp")
            pending = self._pending
            try:
                answer = pending.step(token)
            except Exception as exc:  # wrong password, tampering, garbage: the type name says which
                log.debug("CredSSP token rejected: %s", type(exc).__name__)
                self._pending = None
                raise CredSSPRejected("CredSSP authentication failed") from exc
        if not pending.complete:
            if not answer:
                self._pending = None
                raise CredSSPRejected("CredSSP handshake stalled")
            return answer
        self._pending = None
        self.user = pending.client_principal or ""
        self.delegated = pending.get_extra_info("client_credential") is not None
        return answer or None

"""Kerberos acceptance (``Negotiate`` with SPNEGO or a raw Kerberos token, and ``Kerberos``) for lab servers.

The lab's service principals' keys are in the lab KDC's keytab (:mod:`cas_conformance.lab.auth.kdc`).
The acceptor reads that keytab through GSSAPI's credential store (``gss_acquire_cred_from``), not
through ``KRB5_KTNAME``, so several lab servers in one process each use their own keytab and the
process environment is never touched; the replay cache lives beside the keytab, not in /var/tmp.
Any principal in the keytab is accepted (as Windows accepts every SPN registered on its computer
account), so the HTTP Host the client used picks the service ticket.

:class:`KerberosConnectionAuth` holds one TCP connection's security context, as
:class:`~cas_conformance.lab.auth.ntlm.NtlmConnectionAuth` does for NTLM: HTTP.sys keeps a
Kerberos-authenticated connection authenticated, and WinRM message encryption uses its context.
The context offers ``wrap_winrm``/``unwrap_winrm`` with the signatures of pyspnego's, so
:func:`~cas_conformance.lab.auth.ntlm.encrypt_message` and ``decrypt_message`` seal with it too.
python-gssapi is imported only when a keytab is loaded: a lab without Kerberos needs none of it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cas_conformance.errors import LabError
from cas_conformance.lab.auth.kdc import INSTALL_HINT

log = logging.getLogger(__name__)

_KRB5_OID = "1.2.840.113554.1.2.2"


class KerberosRejected(Exception):
    """The client's token was not accepted (unknown service, bad or replayed ticket, malformed token)."""


def _gssapi() -> Any:
    try:
        import gssapi
        import gssapi.raw
    except ImportError as exc:
        raise LabError(f"the lab's Kerberos needs python-gssapi ({exc}): {INSTALL_HINT}") from None
    return gssapi


@dataclass(frozen=True)
class WrapResult:
    """What pyspnego's ``wrap_winrm`` returns: the token header (the signature) and the sealed data."""

    header: bytes
    data: bytes
    padding_length: int = 0


class KerberosKeytab:
    """A server's acceptor credentials: every principal of *keytab*, replay cache beside it."""

    def __init__(self, keytab: Path) -> None:
        gssapi = _gssapi()
        self.keytab = keytab
        # Handshakes of one keytab take turns: its file replay cache is locked with fcntl, which
        # keeps other processes out but not other threads of this one.
        self.lock = threading.Lock()
        store = {b"keytab": f"FILE:{keytab}".encode(), b"rcache": f"file2:{keytab}.rcache2".encode()}
        try:
            self.credentials = gssapi.Credentials(usage="accept", store=store)
        except gssapi.exceptions.GSSError as exc:
            raise LabError(f"the lab keytab {keytab} cannot be used: {exc}") from None

    def __repr__(self) -> str:
        return f"KerberosKeytab({self.keytab})"


class AcceptedContext:
    """One established (or establishing) GSSAPI acceptor context."""

    def __init__(self, keytab: KerberosKeytab) -> None:
        self._gssapi = _gssapi()
        self._keytab = keytab
        self._context = self._gssapi.SecurityContext(creds=keytab.credentials, usage="accept")
        self.established = False

    def step(self, token: bytes) -> bytes | None:
        """Accept *token*; KerberosRejected when GSSAPI refuses it. (python-gssapi hands back the
        error token of a failed step and raises the error at the next use of the context, so the
        context is looked at here, inside the same ``try``.)"""
        try:
            with self._keytab.lock:
                answer: bytes | None = self._context.step(token)
                self.established = bool(self._context.complete)
            return answer
        except self._gssapi.raw.misc.GSSError as exc:
            # Unknown service principal, modified or replayed ticket, garbage: the message names which.
            log.debug("Kerberos token rejected: %s", exc.gen_message())
            raise KerberosRejected(exc.gen_message()) from None

    @property
    def complete(self) -> bool:
        return self.established

    @property
    def client_principal(self) -> str:
        return str(self._context.initiator_name)

    @property
    def delegated(self) -> bool:
        """Whether the client forwarded its ticket-granting ticket (what a second hop needs)."""
        return self.established and self._context.delegated_creds is not None

    @property
    def mechanism(self) -> str:
        dotted = str(self._context.mech.dotted_form)
        return "kerberos" if dotted == _KRB5_OID else dotted

    def wrap_winrm(self, data: bytes) -> WrapResult:
        raw = self._gssapi.raw
        iov = raw.IOV(raw.IOVBufferType.header, data, raw.IOVBufferType.padding, std_layout=False)
        raw.wrap_iov(self._context, iov, confidential=True)
        padding = iov[2].value or b""
        return WrapResult(iov[0].value or b"", (iov[1].value or b"") + padding, len(padding))

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes:
        raw = self._gssapi.raw
        iov = raw.IOV(
            (raw.IOVBufferType.header, False, header), data, raw.IOVBufferType.data, std_layout=False
        )
        raw.unwrap_iov(self._context, iov)
        return bytes(iov[1].value or b"")


class KerberosConnectionAuth:
    """The Kerberos handshake and resulting security context of one TCP connection."""

    def __init__(self, keytab: KerberosKeytab) -> None:
        self._keytab = keytab
        self.context: AcceptedContext | None = None
        self.user: str | None = None

    def step(self, token: bytes) -> bytes | None:
        """Accept a client token: returns the server's answer token (mutual authentication) once the
        connection is authenticated, or raises KerberosRejected. A new token restarts the handshake."""
        self.context = None
        self.user = None
        context = AcceptedContext(self._keytab)
        answer = context.step(token)
        if not context.complete:
            # Kerberos needs one round (no user-to-user); a SPNEGO that wants more is refused.
            raise KerberosRejected("the Kerberos handshake needs more than one round")
        self.context = context
        self.user = context.client_principal
        return answer

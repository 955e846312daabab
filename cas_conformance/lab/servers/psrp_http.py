"""The lab's ``/PowerShell`` virtual directory: Exchange remote PowerShell on each Client Access server.

IIS hosts it on every CAS, on the default web site's bindings (http 80 and https 443); the
``Microsoft.Exchange`` session configuration is the only one it serves. Requests are WS-Management
SOAP over HTTP POST (:mod:`cas_conformance.lab.servers.psrp` handles them). Authentication is a
plug-in (:data:`Authenticator`):

- Kerberos, the virtual directory's default (:class:`NegotiateAuthenticator`): IIS shows every
  authentication method of ``Default Web Site/PowerShell`` disabled, because Exchange's own native
  module, kerbauth.dll, authenticates the requests, with Kerberos, and the EMS connects over plain
  HTTP, port 80 (myuclab.nl/kerbauth-dll-failed-to-load; TechNet wiki 31066 "Exchange Server 2013
  PowerShell Implicit Remoting over the Internet using IIS ARR": "all the authentication mechanisms
  are 'Disabled'", on-premises "Authentication is on Kerberos and protocol is HTTP"). Over HTTP the
  messages are sealed with the Kerberos context (MS-WSMV message encryption, what WinRM requires
  while ``AllowUnencrypted`` is false); the lab seals with the WinRM listener's own code
  (:func:`~cas_conformance.lab.auth.ntlm.open_request`/``seal_reply``).
- NTLM is refused (401 with the offers, as for a bad token). kerbauth takes Kerberos only; field
  reports agree that remote PowerShell to a load-balanced name, where Kerberos cannot work, fails
  rather than falling back (timmcmic/DLConversion#32), and the advice to pass ``-Authentication
  Negotiate`` to get NTLM instead (cunninghamp/Test-ExchangeServerHealth.ps1#39) concerns later
  versions. What exactly a 2010 server answers to an NTLM token is not documented publicly: the lab
  answers the same 401 as to any token it cannot take [inferred].
- Basic (:class:`BasicAuthenticator`; also inside :class:`NegotiateAuthenticator` over HTTPS),
  which Exchange offers only where an administrator enabled it
  (``Set-PowerShellVirtualDirectory -BasicAuthentication $true``), and which this endpoint accepts
  only over HTTPS, as WinRM refuses unencrypted Basic.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from cas_conformance.lab.auth.ntlm import ENCRYPTED_PROTOCOL, SealingContext, open_request, seal_reply
from cas_conformance.lab.servers import wsman
from cas_conformance.lab.servers.http import HttpHandler, HttpRequest, HttpResponse
from cas_conformance.lab.servers.psrp import PsrpShells
from cas_conformance.lab.servers.wsman import WsmanFault

PATH = "/powershell"


@dataclass(frozen=True)
class AuthResult:
    """Who the request authenticated as (None: refused) and the challenges a 401 carries."""

    user: str | None
    challenges: tuple[str, ...] = ()
    #: WWW-Authenticate of a success (Kerberos mutual authentication)
    answer: str | None = None
    #: the connection's security context (MS-WSMV message encryption over HTTP), if it has one
    context: SealingContext | None = None
    #: the MIME protocol sealed messages on this connection carry
    protocol: str = ENCRYPTED_PROTOCOL


#: (request, over TLS?) -> AuthResult
Authenticator: TypeAlias = Callable[[HttpRequest, bool], AuthResult]


class BasicAuthenticator:
    """Basic against *credentials* (``DOMAIN\\user``, ``user`` or ``user@domain``, any case), HTTPS
    only; over plain HTTP the 401 offers what Exchange's default offers there (Negotiate, Kerberos)."""

    def __init__(self, credentials: Mapping[str, str], domain: str, netbios: str) -> None:
        self._passwords: dict[str, str] = {}
        for user, password in credentials.items():
            short = user.split("\\")[-1].split("@")[0].lower()
            for alias in (short, f"{netbios}\\{short}".lower(), f"{short}@{domain}".lower()):
                self._passwords[alias] = password

    def __call__(self, request: HttpRequest, tls: bool) -> AuthResult:
        if not tls:
            return AuthResult(None, ("Negotiate", "Kerberos"))
        refused = AuthResult(None, ('Basic realm=""', "Negotiate"))
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return refused
        try:
            user, _, password = (
                base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return refused
        expected = self._passwords.get(user.lower())
        if expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
            return refused
        return AuthResult(user)


class NegotiateAuthenticator:
    """Kerberos (the /PowerShell virtual directory's default, Exchange's kerbauth module) and Basic
    over HTTPS, NTLM refused: one
    :class:`~cas_conformance.lab.auth.ntlm.ConnectionAuthenticator` per TCP connection (the
    connection is what Kerberos authenticates; later requests on it carry no header)."""

    def __init__(self, credentials: Mapping[str, str], keytab: str | None) -> None:
        from cas_conformance.lab.auth.ntlm import LabUsers

        self._users = LabUsers(credentials)
        self._keytab = None
        if keytab is not None:
            from cas_conformance.lab.auth.kerberos import KerberosKeytab

            self._keytab = KerberosKeytab(Path(keytab))
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, int, str, bool], object] = {}

    def __call__(self, request: HttpRequest, tls: bool) -> AuthResult:
        from cas_conformance.lab.auth.ntlm import ConnectionAuthenticator

        key = (*request.peer, request.local_address, tls)
        with self._lock:
            auth = self._connections.get(key)
            if not isinstance(auth, ConnectionAuthenticator) or not request.peer[1]:
                auth = ConnectionAuthenticator(self._users, tls, kerberos=self._keytab, ntlm=False)
                self._connections[key] = auth
        outcome = auth.authenticate(request.headers.get("Authorization"))
        if outcome.user is None:
            return AuthResult(None, outcome.challenges)
        return AuthResult(outcome.user, auth.offers, outcome.answer, auth.context, auth.encryption_protocol)


class PowerShellDirectory:
    """Routes ``/PowerShell`` requests of the CAS hosts to the PSRP shells; passes the rest on.

    *host_of* names the Client Access server a request reached (by the local address it came in
    on), or None for an address that is no CAS (the path is then not found, as on IIS without it).
    """

    def __init__(
        self,
        shells: PsrpShells,
        authenticate: Authenticator,
        host_of: Callable[[str], str | None],
    ) -> None:
        self.shells = shells
        self.authenticate = authenticate
        self.host_of = host_of

    def route(
        self, other: HttpHandler, *, tls: bool, elsewhere_on_cas: HttpHandler | None = None
    ) -> HttpHandler:
        """A handler serving ``/PowerShell`` of the CAS hosts itself and everything else with *other*
        (other paths on a CAS address with *elsewhere_on_cas* when given)."""

        def handle(request: HttpRequest) -> HttpResponse:
            host = self.host_of(request.local_address)
            if host is None:
                return other(request)
            if request.path.split("?", 1)[0].rstrip("/").lower() != PATH:
                return (elsewhere_on_cas or other)(request)
            return self.serve(request, host, tls=tls)

        return handle

    def serve(self, request: HttpRequest, host: str, *, tls: bool) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(405, [("Allow", "POST"), ("Content-Type", "text/html")], b"")
        outcome = self.authenticate(request, tls)
        if outcome.user is None:
            headers = [("WWW-Authenticate", c) for c in outcome.challenges]
            return HttpResponse(401, [*headers, ("Content-Type", "text/html")], b"")
        answer = [("WWW-Authenticate", outcome.answer)] if outcome.answer else []
        opened = open_request(
            outcome.context, outcome.protocol, request.headers.get("Content-Type", ""), request.body, tls=tls
        )
        if opened.body is None:  # a sealed message that does not open, or an unsealed one over HTTP
            offers = [("WWW-Authenticate", c) for c in outcome.challenges] if opened.challenge else []
            close = [("Connection", "close")] if opened.close else []
            return HttpResponse(opened.status, [*offers, *close, ("Content-Type", "text/html")], b"")
        if not opened.body:  # pypsrp's empty message that sets up encryption
            return HttpResponse(200, answer, b"")
        scheme = "https" if tls else "http"
        address = f"{scheme}://{request.headers.get('Host', host)}/PowerShell"
        relates_to = ""
        try:
            parsed = wsman.parse_request(opened.body)
            relates_to = parsed.message_id
            status, body = 200, self.shells.dispatch(parsed, host, outcome.user, address)
        except WsmanFault as fault:
            status, body = 500, wsman.fault_response(fault, relates_to, host)
        reply, content_type = seal_reply(outcome.context, outcome.protocol, body, sealed=opened.sealed)
        return HttpResponse(status, [*answer, ("Content-Type", content_type)], reply)

"""Kerberos for the WinRM channel: the krb5 configuration a run uses, and pywinrm's Kerberos auth on pyspnego.

pywinrm 0.5's ``kerberos`` transport needs pykerberos and only ever reads the user's default
credential cache. This module gives pywinrm's transport a requests auth with the same contract
(``wrap_winrm``/``unwrap_winrm`` per host, so pywinrm's own MS-WSMV encryption seals the messages
over HTTP) built on pyspnego with python-gssapi and krb5 (``pip install -e '.[kerberos]'``):

- ``managed`` (default): a ticket is got with the run's password (pyspnego's ``get_init_creds``
  into a unique MEMORY ccache), once per connection; the user's ccache is never read or written.
- ``manual``: the ticket the user got with their own ``kinit`` (their default ccache).

MIT Kerberos reads its configuration from ``KRB5_CONFIG`` only, a process-wide variable;
:func:`configure` sets it once, before the run's threads start, to the files the inventory names
(``kerberos_config``, a private file for ``kerberos_realm``/``kerberos_kdc``) followed by the
system's. The token is sent under ``Negotiate`` as a raw Kerberos token (what pykerberos sends too,
and what HTTP.sys accepts); the server's answer token is checked (mutual authentication).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from winrm.exceptions import WinRMError

PIP_HINT = (
    "pip install -e '.[kerberos]' (python-gssapi and krb5; building them needs apt-get install libkrb5-dev)"
)
SYSTEM_CONFIG = "/etc/krb5.conf"
_ENV = "KRB5_CONFIG"
_LOCK = threading.Lock()
_state: dict[str, str] = {}  # "original": KRB5_CONFIG before the first configure; "dir": private files
_realms: dict[str, tuple[str, ...]] = {}  # kerberos_realm -> kerberos_kdc of every configured host
_files: list[str] = []  # kerberos_config files, most recently configured first

# libkrb5 error codes (krb5/krb5_err.h) that deserve a plain explanation.
_KRB5_REASONS = {
    -1765328378: "the KDC does not know this user (client principal unknown)",
    -1765328360: "wrong password (the KDC refused the pre-authentication)",
    -1765328353: "wrong password (the KDC's answer could not be decrypted with it)",
    -1765328366: "the account is locked or disabled (client revoked)",
    -1765328361: "the password has expired",
    -1765328228: "no KDC of the realm could be reached (kerberos_kdc, or the krb5.conf's [realms])",
    -1765328230: "no KDC is known for the realm (kerberos_realm/kerberos_kdc, or the krb5.conf's [realms])",
    -1765328377: "the KDC does not know the server's service principal (SPN; check setspn or the name used)",
    -1765328347: "the clocks of this machine and the KDC differ by more than 5 minutes",
}


@dataclass(frozen=True)
class Krb5Config:
    """What MIT Kerberos must read for one host: a krb5.conf of its own (None: the system's), and a
    realm with the KDCs that serve it (written to a private file, read before the system's)."""

    config: str | None = None
    realm: str | None = None
    kdcs: tuple[str, ...] = ()


class KerberosClientError(WinRMError):
    """Kerberos could not authenticate to a server: the message says why, without secrets."""


def require_libraries() -> None:
    """Raise KerberosClientError naming what to install when python-gssapi or krb5 is missing."""
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError as exc:
        raise KerberosClientError(f"Kerberos needs python-gssapi and krb5 ({exc}): {PIP_HINT}") from None


def _private_config(realms: dict[str, tuple[str, ...]]) -> str:
    """The [realms] of kerberos_realm/kerberos_kdc as a private file (replaced whole, atomically)."""
    directory = _state.get("dir")
    if directory is None:
        directory = tempfile.mkdtemp(prefix="cas-conformance-krb5-")
        _state["dir"] = directory
        atexit.register(shutil.rmtree, directory, True)
    body = "".join(
        f"    {realm} = {{\n" + "".join(f"        kdc = {kdc}\n" for kdc in kdcs) + "    }\n"
        for realm, kdcs in sorted(realms.items())
    )
    path = os.path.join(directory, "realms.conf")
    with open(path + ".new", "w", encoding="utf-8") as handle:
        handle.write("[realms]\n" + body)
    os.replace(path + ".new", path)
    return path


def configure(hosts: Iterable[Krb5Config]) -> str | None:
    """Point MIT Kerberos at the configuration *hosts* need (call before threads start).

    Files of later calls come first (a new lab's krb5.conf before an earlier one's), files of earlier
    calls stay; the system's configuration is always last. Returns the KRB5_CONFIG value, or None
    while no host has asked for anything but the system's configuration.
    """
    hosts = list(hosts)
    with _LOCK:
        if "original" not in _state:
            _state["original"] = os.environ.get(_ENV, "")
        for host in hosts:
            if host.realm and host.kdcs:
                known = _realms.get(host.realm, ())
                _realms[host.realm] = tuple(dict.fromkeys([*known, *host.kdcs]))
        new = [host.config for host in hosts if host.config]
        _files[:] = list(dict.fromkeys([*new, *_files]))
        if not _realms and not _files:
            return None
        base = _state["original"] or SYSTEM_CONFIG
        value = ":".join(([_private_config(_realms)] if _realms else []) + _files + [base])
        if os.environ.get(_ENV) != value:
            os.environ[_ENV] = value
        return value


def is_kerberos_failure(exc: BaseException) -> bool:
    """Whether *exc* comes from the Kerberos libraries (pyspnego, python-gssapi, krb5)."""
    return type(exc).__module__.split(".")[0] in ("spnego", "gssapi", "krb5")


def describe_failure(exc: BaseException, who: str, target: str) -> str:
    """A Kerberos library failure in words that say what to fix (never a password)."""
    if type(exc).__name__ == "NoCredentialError" and "cache" in str(exc).lower():
        return (
            f"Kerberos authentication of {who} failed: no ticket in the credential cache (with "
            "ansible_winrm_kinit_mode = manual, run kinit first; KRB5CCNAME names the cache)"
        )
    return _reason(exc, who, target)


def _reason(exc: BaseException, who: str, target: str) -> str:
    code = None
    for candidate in (exc, getattr(exc, "base_error", None), exc.__cause__, exc.__context__):
        code = getattr(candidate, "err_code", None) or getattr(candidate, "errno", None)
        if isinstance(code, int) and code in _KRB5_REASONS:
            return f"Kerberos authentication of {who} failed: {_KRB5_REASONS[code]}"
    text = str(exc)
    for known in _KRB5_REASONS:
        if str(known) in text:
            return f"Kerberos authentication of {who} failed: {_KRB5_REASONS[known]}"
    detail = text.replace("\n", " ").strip() or type(exc).__name__
    return f"Kerberos authentication of {who} to {target} failed: {detail[:400]}"


class KerberosAuth(AuthBase):
    """A requests auth for WinRM with pywinrm's Kerberos contract, on pyspnego."""

    winrm_encryption_available = True

    def __init__(
        self,
        username: str | None,
        password: str | None,
        *,
        service: str | None = "HTTP",
        hostname_override: str | None = None,
        delegate: bool = False,
    ) -> None:
        require_libraries()
        self._username = username
        self._password = password
        self._service = service or "HTTP"
        self._override = hostname_override
        self._delegate = delegate
        self.contexts: dict[str, Any] = {}
        self._authenticated: set[str] = set()

    def __repr__(self) -> str:
        return f"KerberosAuth({self._username!r}, service={self._service!r})"

    def _new_context(self, host: str) -> Any:
        import spnego

        target = self._override or host
        flags = spnego.ContextReq.default
        if self._delegate:
            flags |= spnego.ContextReq.delegate
        who = self._username or "the default credential cache's principal"
        try:
            context = spnego.client(
                self._username,
                self._password,
                hostname=target,
                service=self._service,
                protocol="kerberos",
                context_req=flags,
            )
            token = context.step()
        except Exception as exc:  # pyspnego, gssapi and krb5 errors: explained, password-free
            raise KerberosClientError(_reason(exc, who, f"{self._service}/{target}")) from None
        self.contexts[host] = context
        self._token = token
        return context

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        host = urlsplit(request.url or "").hostname or ""
        if host not in self._authenticated:
            self._new_context(host)
            request.headers["Authorization"] = "Negotiate " + base64.b64encode(self._token or b"").decode()
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        host = urlsplit(response.url).hostname or ""
        if response.status_code == 401:
            self._authenticated.discard(host)
            if "Authorization" in response.request.headers or kwargs.get("_reauthenticated"):
                return response  # our token was refused: pywinrm turns it into InvalidCredentialsError
            # The connection's authentication was lost (a new TCP connection): authenticate it again.
            return self._resend(response, host, **kwargs)
        if host in self._authenticated or response.status_code >= 400:
            return response  # an error carries no answer token (requests-kerberos does the same)
        context = self.contexts.get(host)
        if context is None:
            return response
        answer = _negotiate_token(response.headers.get("WWW-Authenticate", ""))
        if answer is None:
            raise KerberosClientError(f"{host} did not authenticate itself (no Kerberos answer token)")
        try:
            context.step(answer)
        except Exception:
            raise KerberosClientError(
                f"{host} failed mutual authentication (its Kerberos answer is not valid)"
            ) from None
        if not context.complete:
            raise KerberosClientError(f"{host} did not complete the Kerberos handshake")
        self._authenticated.add(host)
        return response

    def _resend(self, response: requests.Response, host: str, **kwargs: Any) -> requests.Response:
        self._new_context(host)
        request = response.request.copy()
        request.headers["Authorization"] = "Negotiate " + base64.b64encode(self._token or b"").decode()
        _ = response.content  # read it, so the connection can be used again
        response.close()
        retried = response.connection.send(request, **kwargs)
        retried.history.append(response)
        retried.request = request
        return self._on_response(retried, _reauthenticated=True, **kwargs)

    def wrap_winrm(self, host: str, message: bytes) -> tuple[bytes, bytes]:
        result = self.contexts[host].wrap_winrm(message)
        return result.data, result.header

    def unwrap_winrm(self, host: str, message: bytes, signature: bytes) -> bytes:
        return bytes(self.contexts[host].unwrap_winrm(signature, message))


def _negotiate_token(header: str) -> bytes | None:
    for part in header.split(","):
        scheme, _, value = part.strip().partition(" ")
        if scheme.lower() in ("negotiate", "kerberos") and value.strip():
            try:
                return base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
    return None

"""TLS as the authenticated channels (WinRM, Exchange remote PowerShell) speak it to old servers.

Windows Server 2008 R2 ships with TLS 1.2 disabled for Schannel, and urllib3 2.x's default minimum
is TLS 1.2, so a default client cannot reach an unhardened 2008 R2 server over HTTPS at all. These
channels accept TLS 1.0 and 1.1 where the server offers nothing newer (OpenSSL 3 also needs the
cipher security level lowered to 0 for them: TLS 1.0 signs the handshake with MD5+SHA-1) and the
caller warns, naming the server. Certificate and host-name verification stay on.

A failed handshake is told apart by cause (untrusted chain, name mismatch, expired, protocol
version), each message naming the inventory variable that fixes it.
"""

from __future__ import annotations

import functools
import os
import re
import ssl
import threading
import warnings
from typing import Any

from requests.utils import DEFAULT_CA_BUNDLE_PATH

from cas_conformance.channels.dialer import Dialer, DialerAdapter, TlsObserver

#: what these channels accept at least (urllib3 2.x's own default is TLS 1.2)
MINIMUM_VERSION = ssl.TLSVersion.TLSv1
#: versions a server should no longer be limited to: speaking only these earns a warning
OLD_VERSIONS = frozenset({"TLSv1", "TLSv1.1"})
#: the inventory variables the messages point at
TRUST_VARIABLE = "ansible_winrm_ca_trust_path"
VALIDATION_VARIABLE = "ansible_winrm_server_cert_validation"
HOST_VARIABLE = "ansible_host"

_VERIFY_DETAIL = re.compile(r"certificate verify failed: ([^(')\]]+)", re.IGNORECASE)
_PROTOCOL_WORDS = (
    "unsupported protocol",
    "wrong version number",
    "protocol version",
    "no protocols available",
    "version too low",
    "unsupported_protocol",
)


def client_context(*, verify: bool, ca_path: str | None = None) -> ssl.SSLContext:
    """A client context that speaks TLS 1.0 to 1.3, verifying the chain and the name when *verify*.

    The trust store is the system's plus *ca_path* (the inventory's ``ansible_winrm_ca_trust_path``)
    or, without one, certifi's bundle: what requests would load into the context of every new
    connection. It is loaded here once, and the context shared by every session with the same trust
    (:class:`ContextAdapter` keeps requests from loading it again per connection): a context costs
    about a megabyte and some milliseconds to build, per server at 2,000 servers.
    """
    path = (ca_path or DEFAULT_CA_BUNDLE_PATH) if verify else None
    stamp = os.stat(path) if path else None
    key = (stamp.st_mtime_ns, stamp.st_size) if stamp else None
    return _shared_context(verify, path, key, MINIMUM_VERSION)


def _trusted_path(context: ssl.SSLContext) -> str | None:
    """The CA file :func:`client_context` loaded into *context* (None: another context)."""
    path = getattr(context, _TRUSTED, None)
    return path if isinstance(path, str) else None


_TRUSTED = "cas_conformance_trusted_path"


@functools.lru_cache(maxsize=16)
def _shared_context(
    verify: bool, path: str | None, _stamp: tuple[int, int] | None, _minimum: ssl.TLSVersion
) -> ssl.SSLContext:
    context = ssl.create_default_context()
    setattr(context, _TRUSTED, path)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif path is not None:  # a PEM file: the settings accept nothing else, certifi's bundle is one
        context.load_verify_locations(cafile=path)
    return accept_old_versions(context)


def accept_old_versions(context: ssl.SSLContext) -> ssl.SSLContext:
    """Let *context* speak TLS 1.0 and 1.1 too (Python's default minimum is TLS 1.2, and OpenSSL 3
    refuses TLS 1.0/1.1 above cipher security level 0). Returns *context*."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated, and still met
        context.minimum_version = MINIMUM_VERSION
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


class TlsVersions:
    """Records the TLS version of each handshake a session's connections make."""

    def __init__(self) -> None:
        self.versions: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int, sock: ssl.SSLSocket) -> None:
        with self._lock:
            self.versions.add(sock.version() or "")

    def observing(self, dialer: Dialer) -> Dialer:
        """*dialer* with this record added to its TLS observer (the observer still called)."""
        other = dialer.on_tls

        def observe(host: str, port: int, sock: ssl.SSLSocket) -> None:
            self(host, port, sock)
            if other is not None:
                other(host, port, sock)

        observer: TlsObserver = observe
        return Dialer(dialer.resolver, dialer.rules, on_tls=observer)

    def warning(self, server: str, channel: str) -> str | None:
        """The warning text when the server spoke TLS 1.0/1.1 (no TLS 1.2 offered), else None."""
        with self._lock:
            old = sorted(self.versions & OLD_VERSIONS)
        if not old:
            return None
        return (
            f"{server}: {channel} spoke {', '.join(old)} only (no TLS 1.2 offered): enable TLS 1.2 "
            "on the server (Schannel registry keys, see docs/real-servers.md, TLS versions)"
        )


class ContextAdapter(DialerAdapter):
    """A :class:`DialerAdapter` whose HTTPS connections use *context*."""

    def __init__(self, dialer: Dialer, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(dialer, **kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, ssl_context=self._context, **pool_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """requests' verification settings, without its CA file where the context holds that
        trust already (:func:`client_context`): urllib3 would load the file again per connection."""
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        wanted = DEFAULT_CA_BUNDLE_PATH if verify is True else verify or None
        if wanted is not None and wanted == _trusted_path(self._context):
            conn.ca_certs = None
            conn.ca_cert_dir = None


def mount(session: Any, dialer: Dialer, context: ssl.SSLContext) -> None:
    """Route every http:// and https:// request of *session* through *dialer* with *context*."""
    adapter = ContextAdapter(dialer, context)
    session.mount("http://", adapter)
    session.mount("https://", adapter)


def describe_failure(host: str, text: str, *, service: str) -> str:
    """Why the TLS handshake with *host* (the *service*, e.g. "WinRM") failed, saying what to fix."""
    low = text.lower()
    if "hostname mismatch" in low or "doesn't match" in low or "not valid for" in low:
        return (
            f"TLS name mismatch: the certificate of {host} ({service}) does not name {host}: connect by a name "
            f"on the certificate ({HOST_VARIABLE}, with a connect_to rule for the address if needed) or add "
            f"{host} to the certificate's names (or set {VALIDATION_VARIABLE}=ignore, not recommended)"
        )
    if "certificate has expired" in low:
        return (
            f"TLS certificate of {host} has expired: renew the {service} listener's certificate (or set "
            f"{VALIDATION_VARIABLE}=ignore, not recommended)"
        )
    if "not yet valid" in low:
        return (
            f"TLS certificate of {host} is not yet valid: check the clocks of this runner and the server "
            f"(or set {VALIDATION_VARIABLE}=ignore, not recommended)"
        )
    if "certificate verify failed" in low or "self signed" in low or "self-signed" in low:
        found = _VERIFY_DETAIL.search(text)
        detail = f"; the verifier said: {found.group(1).strip()}" if found else ""
        return (
            f"TLS certificate of {host} not trusted: add its issuing CA to {TRUST_VARIABLE} "
            f"(or set {VALIDATION_VARIABLE}=ignore, not recommended){detail}"
        )
    if any(word in low for word in _PROTOCOL_WORDS):
        return (
            f"TLS protocol version: {host} and this client share no TLS version (this client accepts "
            f"{_accepted()}): enable TLS 1.2 on the server (Schannel registry keys, see docs/real-servers.md, "
            "TLS versions)"
        )
    first = text.splitlines()[0][:200] if text else "no detail"
    return f"TLS handshake with {host} failed: {first}"


def _accepted() -> str:
    names = {ssl.TLSVersion.TLSv1: "1.0", ssl.TLSVersion.TLSv1_1: "1.1", ssl.TLSVersion.TLSv1_2: "1.2"}
    return f"TLS {names.get(MINIMUM_VERSION, str(MINIMUM_VERSION))} to 1.3"

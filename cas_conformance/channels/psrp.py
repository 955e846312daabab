"""Exchange remote PowerShell: one runspace pool to ``http(s)://<cas>/PowerShell/``, cmdlets only.

The supported way to read Exchange 2010 (loading the snap-in instead bypasses RBAC and is not
supported: https://blog.rmilne.ca/2015/01/28/directly-loading-exchange-2010-or-2013-snapin-is-not-supported/):
PSRP over WS-Management to the ``Microsoft.Exchange`` session configuration of a Client Access
server's ``/PowerShell`` virtual directory, with pypsrp. The runspace there is restricted (no scripts, only the cmdlets the account's
RBAC roles allow), so this module sends cmdlets with parameters and nothing else, optionally piped
to ``Select-Object -Property`` (the one PowerShell cmdlet of that runspace it uses: an
``ExchangeCertificate`` only shows its properties that way). pypsrp deserializes the answers;
:class:`RemoteObject` gives them one plain shape (pypsrp 0.9 leaves a ``MultiValuedProperty``'s
list as XML text, so the pool's serializer reads such a list's items in the same pass).

Connections go through the run's :class:`~cas_conformance.channels.dialer.Dialer` (``connect_to``
rules, the inventory's resolvers), never through environment proxies. TLS accepts 1.0 and 1.1 where
the server offers nothing newer (Windows Server 2008 R2 ships with TLS 1.2 disabled) and warns,
naming the server. Authentication is pypsrp's: ``basic`` (over HTTPS only), ``ntlm``,
``negotiate``, ``kerberos``, ``credssp``; a missing library is pypsrp's error, reported as it is.
"""

from __future__ import annotations

import contextlib
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import requests
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.wsman import WSMan

from cas_conformance.channels import kerberos, tls_client
from cas_conformance.channels.dialer import SESSION_BUILD_LOCK, Dialer
from cas_conformance.domain.secret import Secret
from cas_conformance.errors import CasConformanceWarning, CollectionError

CHANNEL = "exchange-powershell"
CONFIGURATION = "Microsoft.Exchange"
_CMDLET_NAME = re.compile(r"^[A-Za-z]+-[A-Za-z0-9]+$")


@dataclass(frozen=True)
class PsrpTarget:
    """Where and how to open the session: one Client Access server's ``/PowerShell``."""

    host: str
    #: None (with no password): Kerberos with the ticket in the user's own credential cache
    user: str | None
    password: Secret | None = field(repr=False)
    scheme: str = "https"
    port: int | None = None
    auth: str = "basic"
    cert_validation: bool = True
    ca_trust_path: str | None = None
    connect_timeout: float = 15.0
    operation_timeout: int = 20
    read_timeout: float = 40.0
    max_concurrency: int = 4
    path: str = "PowerShell"

    def __post_init__(self) -> None:
        """Basic over plain HTTP is refused here, before anything is sent (the password would
        travel in clear text): no session can be opened with such a target."""
        if self.auth == "basic" and self.scheme != "https":
            raise CollectionError(
                self.host,
                CHANNEL,
                "Basic authentication is only allowed over HTTPS (exchange_powershell_scheme = https)",
            )

    @property
    def url(self) -> str:
        return (
            f"{self.scheme}://{self.host}:{self.port or (443 if self.scheme == 'https' else 80)}/{self.path}/"
        )


@dataclass(frozen=True)
class Cmdlet:
    """One cmdlet with named parameters (``True`` for a switch), optionally ``| Select-Object``."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    select: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _CMDLET_NAME.match(self.name):
            raise ValueError(
                f"not a cmdlet name (scripts are refused by the Exchange runspace): {self.name!r}"
            )

    def __str__(self) -> str:
        parts = [self.name]
        for key, value in self.parameters.items():
            parts.append(f"-{key}" if value is True else f"-{key} {value}")
        if self.select:
            parts.append(f"| Select-Object {','.join(self.select)}")
        return " ".join(parts)


@dataclass(frozen=True)
class RemoteObject:
    """A deserialized object: type names as on the wire (PowerShell shows them with ``Deserialized.``
    before each), its text (``ToString``), its properties, its list items (a MultiValuedProperty)
    and its value (an enumeration's number)."""

    type_names: tuple[str, ...]
    text: str | None
    properties: Mapping[str, Any]
    items: tuple[Any, ...] = ()
    value: Any = None

    @property
    def deserialized_type_names(self) -> tuple[str, ...]:
        return tuple(n if n.startswith("Deserialized.") else f"Deserialized.{n}" for n in self.type_names)

    def __getitem__(self, name: str) -> Any:
        return self.properties[name]

    def __str__(self) -> str:
        return self.text if self.text is not None else ""


@dataclass(frozen=True)
class CmdletOutcome:
    """What one cmdlet returned: objects and the text of its error records."""

    cmdlet: Cmdlet
    objects: tuple[RemoteObject, ...]
    errors: tuple[str, ...]

    def result(self, server: str) -> tuple[RemoteObject, ...]:
        """The objects; CollectionError (fail closed) when the cmdlet reported an error."""
        if self.errors:
            raise CollectionError(server, CHANNEL, f"{self.cmdlet}: {'; '.join(self.errors)}")
        return self.objects


class _ListSerializer(Serializer):
    """pypsrp's serializer, but a ``<LST>`` that is an object's own content (a MultiValuedProperty's
    items) comes back as the list of its items, deserialized in the same pass, instead of as its
    XML text (pypsrp 0.9 recognises a list only by a .NET list type name it knows). Being the same
    pass, an item's references to type-name lists (``<TNRef>``) and to objects (``<Ref>``) defined
    earlier in the object resolve as everywhere else, and nothing is parsed twice."""

    def deserialize(self, element: Any, metadata: Any = None, clear: bool = True) -> Any:
        if metadata is None and isinstance(element, ET.Element) and element.tag == "LST":
            if clear:
                self._clear()
            return [self.deserialize(item, clear=False) for item in element]
        return super().deserialize(element, metadata, clear=clear)


def _from_library(value: Any) -> Any:
    """pypsrp's deserialized value in :class:`RemoteObject` form (primitives stay as they are)."""
    if not hasattr(value, "adapted_properties"):
        return value
    properties = {
        k: _from_library(v) for k, v in {**value.adapted_properties, **value.extended_properties}.items()
    }
    items: list[Any] = []
    scalar = None
    for entry in value.property_sets:
        if isinstance(entry, list):
            items.extend(_from_library(item) for item in entry)
        else:
            scalar = _from_library(entry)
    return RemoteObject(tuple(value.types), value.to_string, properties, tuple(items), scalar)


def _runspace_pool(wsman: WSMan, max_runspaces: int) -> RunspacePool:
    """A runspace pool whose answers are read by :class:`_ListSerializer` (pypsrp gives the pool's
    serializer to its fragmenter, which deserializes every message received)."""
    pool = RunspacePool(wsman, configuration_name=CONFIGURATION, max_runspaces=max_runspaces)
    serializer = _ListSerializer()
    pool._serializer = serializer
    pool._fragmenter.serializer = serializer
    return pool


class ExchangeSession:
    """One runspace pool on one Client Access server; cmdlets run through it, at most
    ``max_concurrency`` pipelines at a time."""

    def __init__(self, target: PsrpTarget, dialer: Dialer) -> None:
        self.target = target
        self.tls_versions = tls_client.TlsVersions()
        self._dialer = self.tls_versions.observing(dialer)
        self._pool: RunspacePool | None = None
        self._wsman: WSMan | None = None

    def __enter__(self) -> ExchangeSession:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        t = self.target
        wsman = WSMan(
            t.host,
            port=t.port or (443 if t.scheme == "https" else 80),
            path=t.path + "/",
            ssl=t.scheme == "https",
            auth=t.auth,
            username=t.user,
            password=t.password.reveal() if t.password is not None else None,
            cert_validation=t.cert_validation,
            connection_timeout=int(t.connect_timeout),
            read_timeout=int(t.read_timeout),
            operation_timeout=t.operation_timeout,
            no_proxy=True,
            # IIS serves /PowerShell: its service principal is HTTP/<fqdn>, as for any IIS site
            negotiate_service="HTTP",
        )
        transport = wsman.transport
        with SESSION_BUILD_LOCK:  # pypsrp's own session (auth, headers), then our routing
            session = transport._build_session()
        session.trust_env = False
        session.proxies = {}
        self._wsman = wsman
        with self._failures("opening the session"):  # the trust store is read here, then the pool opens
            tls_client.mount(
                session,
                self._dialer,
                tls_client.client_context(verify=t.cert_validation, ca_path=t.ca_trust_path),
            )
            session.verify = (t.ca_trust_path or True) if t.cert_validation else False
            transport.session = session
            pool = _runspace_pool(wsman, max(1, t.max_concurrency))
            pool.open()
        self._pool = pool
        text = self.tls_versions.warning(t.host, "Exchange remote PowerShell")
        if text is not None:
            warnings.warn(CasConformanceWarning(text), stacklevel=2)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close()
        if self._wsman is not None:
            with contextlib.suppress(Exception):
                self._wsman.close()
            self._wsman = None

    def run(self, cmdlet: Cmdlet) -> tuple[RemoteObject, ...]:
        """The objects one cmdlet returns; CollectionError when it failed or reported an error."""
        return self.run_all([cmdlet])[0].result(self.target.host)

    def run_all(self, cmdlets: Iterable[Cmdlet]) -> list[CmdletOutcome]:
        """Run every cmdlet (at most ``max_concurrency`` at once, in order); each outcome carries its
        errors. A failure of the session itself (transport, authentication) raises CollectionError."""
        if self._pool is None:
            raise CollectionError(self.target.host, CHANNEL, "the session is not open")
        pending = list(cmdlets)
        outcomes: list[CmdletOutcome] = []
        running: list[tuple[Cmdlet, PowerShell]] = []
        while pending or running:
            while pending and len(running) < max(1, self.target.max_concurrency):
                cmdlet = pending.pop(0)
                with self._failures(str(cmdlet)):
                    running.append((cmdlet, self._begin(cmdlet)))
            cmdlet, ps = running.pop(0)
            with self._failures(str(cmdlet)):
                outcomes.append(self._finish(cmdlet, ps))
        return outcomes

    def _begin(self, cmdlet: Cmdlet) -> PowerShell:
        assert self._pool is not None
        ps = PowerShell(self._pool)
        ps.add_cmdlet(cmdlet.name)
        for key, value in cmdlet.parameters.items():
            ps.add_parameter(key, value)
        if cmdlet.select:
            ps.add_cmdlet("Select-Object").add_parameter("Property", list(cmdlet.select))
        ps.begin_invoke()
        return ps

    def _finish(self, cmdlet: Cmdlet, ps: PowerShell) -> CmdletOutcome:
        output = ps.end_invoke()
        errors = tuple(_error_text(record) for record in ps.streams.error)
        if ps.state == PSInvocationState.FAILED and not errors:
            errors = ("the pipeline failed without an error record",)
        with contextlib.suppress(Exception):
            ps.close()
        return CmdletOutcome(cmdlet, tuple(_from_library(item) for item in output), errors)

    @contextlib.contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        try:
            yield
        except CollectionError:
            raise
        except Exception as exc:  # every library failure becomes one clear, password-free reason
            raise CollectionError(
                self.target.host, CHANNEL, f"{doing}: {describe_failure(self.target, exc)}"
            ) from None


def _error_text(record: Any) -> str:
    message = str(record)
    error_id = getattr(record, "fq_error", None)
    if error_id == "ScriptsNotAllowed":
        return f"the Exchange runspace refuses scripts (ScriptsNotAllowed): {message}"
    if error_id == "CommandNotFoundException":
        return f"not in the Exchange runspace (CommandNotFoundException; the account's RBAC roles may not include it): {message}"
    return f"{message} ({error_id})" if error_id else message


def describe_failure(target: PsrpTarget, exc: BaseException) -> str:
    """Why a request to *target* failed, in words that say what to fix (never the password)."""
    where = target.url
    if isinstance(exc, AuthenticationError):
        return (
            f"authentication failed (HTTP 401) for {target.user or 'the credential cache principal'} with "
            f"{target.auth} at {where}: check the user name and password, and that the /PowerShell virtual "
            f"directory allows {target.auth} (by default it takes Kerberos only)"
        )
    if isinstance(exc, WinRMTransportError):
        hint = " (is Exchange remote PowerShell at /PowerShell?)" if exc.code == 404 else ""
        return f"{where} answered HTTP {exc.code}{hint}"
    if isinstance(exc, WSManFaultError):
        return f"WS-Management fault from {where}: {exc.reason or exc.message}"
    if isinstance(exc, requests.exceptions.SSLError):
        return tls_client.describe_failure(target.host, str(exc), service="Exchange remote PowerShell")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"cannot connect to {where}: connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"{where} did not answer within {target.read_timeout:g} s"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc).lower()
        why = (
            "connection refused"
            if "refused" in text
            else "connection reset"
            if "reset" in text
            else "connection failed"
        )
        return f"cannot connect to {where}: {why}"
    if isinstance(exc, WinRMError):
        return f"WinRM error from {where}: {exc}"
    if target.auth in ("kerberos", "negotiate") and kerberos.is_kerberos_failure(exc):
        who = target.user or "the credential cache's principal"
        return kerberos.describe_failure(exc, who, f"HTTP/{target.host}")
    return f"{exc.__class__.__name__}: {exc}"

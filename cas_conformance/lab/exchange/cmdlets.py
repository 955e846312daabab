"""What the lab's ``Microsoft.Exchange`` runspace runs: its cmdlet catalogue and its restrictions.

Exchange remote PowerShell gives each user a restricted runspace: the cmdlets the user's RBAC roles
allow, plus the few PowerShell cmdlets implicit remoting needs (``Get-Command``, ``Select-Object``,
``Measure-Object`` ...: the RestrictedRemoteServer set, PowerShell's about_Session_Configuration_Files),
and no language at all. What a client gets for stepping outside it:

- a script (``IsScript`` true, any text): the parse error of a no-language runspace, "The syntax is
  not supported by this runspace. This might be because it is in no-language mode.", category
  ParserError, ``FullyQualifiedErrorId`` ScriptsNotAllowed [MS] PowerShell-Docs
  about_Session_Configuration_Files / about_Language_Modes (NoLanguage); field reports against the
  Exchange endpoint quote the same text (``Invoke-Command -Session $s -ScriptBlock {...}``).
- a command outside the catalogue: ``CommandNotFoundException``, "The term 'X' is not recognized as
  the name of a cmdlet, function, script file, or operable program. ..." (text as quoted in
  MicrosoftDocs/office-docs-powershell#5571 for a cmdlet a remote Exchange session lacks).
- a parameter the cmdlet does not have: ``ParameterBindingException`` "A parameter cannot be found
  that matches parameter name 'X'." (FullyQualifiedErrorId ``NamedParameterNotFound,<cmdlet>``).
- ``-Server`` naming no Exchange server: Exchange's ``ManagementObjectNotFoundException`` "The
  operation couldn't be performed because object 'X' couldn't be found on '<DC>'." [community:
  public PowerShell transcripts print it so, category NotSpecified].

The one PowerShell cmdlet served is ``Select-Object -Property`` after an Exchange cmdlet (what a
client needs to read an ``ExchangeCertificate``'s properties, which do not cross the wire otherwise).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSNoteProperty,
    PSObject,
)

from cas_conformance.lab.exchange.objects import VDIRS, ExchangeObject, ExchangeOrganisation
from cas_conformance.lab.scenario.model import LabServer

RESTRICTED_REMOTE_SERVER = frozenset(
    {
        "exit-pssession",
        "get-command",
        "get-formatdata",
        "get-help",
        "measure-object",
        "out-default",
        "select-object",
    }
)
_ORGANISATION_WIDE = {
    "Get-ExchangeServer": ExchangeOrganisation.exchange_servers,
    "Get-MailboxDatabase": ExchangeOrganisation.mailbox_databases,
    "Get-PublicFolderDatabase": ExchangeOrganisation.public_folder_databases,
    "Get-ClientAccessArray": ExchangeOrganisation.client_access_arrays,
    "Get-ClientAccessServer": ExchangeOrganisation.client_access_servers,
}
_COMMON = frozenset({"domaincontroller", "erroraction", "warningaction", "verbose", "debug"})


ServerReader = Callable[[ExchangeOrganisation, LabServer], list[ExchangeObject]]


def _vdir_reader(noun: str) -> ServerReader:
    return lambda organisation, server: organisation.virtual_directories(noun, server)


class CmdletFailure(Exception):
    """A terminating error: the pipeline fails with this error record."""

    def __init__(self, record: ErrorRecord) -> None:
        super().__init__(str(record))
        self.record = record


def error_record(
    message: str,
    exception_types: Sequence[str],
    category: ErrorCategory,
    reason: str,
    target: str,
    error_id: str,
) -> ErrorRecord:
    exception = NETException(Message=message, HResult=-2146233087)
    exception.PSObject.type_names = [*exception_types, *exception.PSTypeNames]
    return ErrorRecord(
        Exception=exception,
        CategoryInfo=ErrorCategoryInfo(
            Category=category, Reason=reason, TargetName=target, TargetType="String"
        ),
        FullyQualifiedErrorId=error_id,
        TargetObject=target,
    )


def scripts_not_allowed(text: str) -> CmdletFailure:
    return CmdletFailure(
        error_record(
            "The syntax is not supported by this runspace. This might be because it is in no-language mode.",
            ["System.Management.Automation.ParseException", "System.Management.Automation.RuntimeException"],
            ErrorCategory.ParserError,
            "ParseException",
            text,
            "ScriptsNotAllowed",
        )
    )


def command_not_found(name: str) -> CmdletFailure:
    return CmdletFailure(
        error_record(
            f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
            "program. Check the spelling of the name, or if a path was included, verify that the path is "
            "correct and try again.",
            [
                "System.Management.Automation.CommandNotFoundException",
                "System.Management.Automation.RuntimeException",
            ],
            ErrorCategory.ObjectNotFound,
            "CommandNotFoundException",
            name,
            "CommandNotFoundException",
        )
    )


def parameter_not_found(cmdlet: str, name: str) -> CmdletFailure:
    return CmdletFailure(
        error_record(
            f"A parameter cannot be found that matches parameter name '{name}'.",
            [
                "System.Management.Automation.ParameterBindingException",
                "System.Management.Automation.RuntimeException",
            ],
            ErrorCategory.InvalidArgument,
            "ParameterBindingException",
            name,
            f"NamedParameterNotFound,{cmdlet}",
        )
    )


@dataclass(frozen=True)
class Invocation:
    """One command of a pipeline as the client sent it."""

    name: str
    is_script: bool
    parameters: Sequence[tuple[str | None, Any]]


@dataclass
class Outcome:
    """What a pipeline produced: output objects and non-terminating error records."""

    output: list[PSObject]
    errors: list[ErrorRecord]


class ExchangeRunspace:
    """The cmdlets of one organisation, served on every Client Access server; counts each call."""

    def __init__(self, organisation: ExchangeOrganisation) -> None:
        self.organisation = organisation
        self.stats: Counter[str] = Counter()  # "<host> <cmdlet>[ -Server <name>]" -> calls
        self._lock = threading.Lock()
        self._handlers: dict[
            str, tuple[frozenset[str], Callable[[dict[str, Any]], list[ExchangeObject]]]
        ] = {}
        for name, method in _ORGANISATION_WIDE.items():
            self._handlers[name.lower()] = (frozenset(), self._all(method))
        for noun in VDIRS:
            self._handlers[f"get-{noun.lower()}virtualdirectory"] = (
                frozenset({"server", "adpropertiesonly", "identity"}),
                self._per_server(_vdir_reader(noun)),
            )
        per_server: tuple[tuple[str, ServerReader], ...] = (
            ("Get-RpcClientAccess", ExchangeOrganisation.rpc_client_access),
            ("Get-OutlookAnywhere", ExchangeOrganisation.outlook_anywhere),
            ("Get-ExchangeCertificate", ExchangeOrganisation.exchange_certificates),
        )
        for name, reader in per_server:
            self._handlers[name.lower()] = (frozenset({"server"}), self._per_server(reader))
        self.catalogue = sorted(
            [
                *_ORGANISATION_WIDE,
                *(f"Get-{n}VirtualDirectory" for n in VDIRS),
                "Get-RpcClientAccess",
                "Get-OutlookAnywhere",
                "Get-ExchangeCertificate",
            ]
        )

    def _all(
        self, method: Callable[[ExchangeOrganisation], list[ExchangeObject]]
    ) -> Callable[[dict[str, Any]], list[ExchangeObject]]:
        return lambda _params: method(self.organisation)

    def _per_server(self, method: ServerReader) -> Callable[[dict[str, Any]], list[ExchangeObject]]:
        def run(params: dict[str, Any]) -> list[ExchangeObject]:
            wanted = params.get("server")
            if wanted is None:
                servers = list(self.organisation.s.servers)
            else:
                found = self.organisation.server(str(wanted))
                if found is None:
                    raise _NotFound(str(wanted))
                servers = [found]
            return [item for server in servers for item in method(self.organisation, server)]

        return run

    def run(self, host: str, commands: Sequence[Invocation]) -> Outcome:
        """Run one pipeline on *host*'s runspace; CmdletFailure for a terminating error."""
        if not commands:
            raise command_not_found("")
        for command in commands:
            if command.is_script:
                raise scripts_not_allowed(command.name)
        first, rest = commands[0], commands[1:]
        entry = self._handlers.get(first.name.lower())
        if entry is None:
            raise command_not_found(first.name)
        allowed, handler = entry
        params = self._bind(first, allowed | _COMMON)
        for extra in rest:
            if extra.name.lower() != "select-object":
                raise (
                    command_not_found(extra.name)
                    if extra.name.lower() not in RESTRICTED_REMOTE_SERVER
                    else _unsimulated(extra.name)
                )
        canonical = next(c for c in self.catalogue if c.lower() == first.name.lower())
        key = f"{host} {canonical}" + (f" -Server {params['server']}" if "server" in params else "")
        with self._lock:
            self.stats[key] += 1
        try:
            objects = handler(params)
        except _NotFound as missing:
            return Outcome([], [_not_found_record(first.name, missing.name, self.organisation.s.domain)])
        output = [item.wire for item in objects]
        for select in rest:
            picked = self._bind(select, frozenset({"property"})).get("property", [])
            names = [picked] if isinstance(picked, str) else [str(n) for n in picked]
            output = [_selected(item, names) for item in objects]
        return Outcome(output, [])

    @staticmethod
    def _bind(command: Invocation, allowed: frozenset[str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, value in command.parameters:
            key = (name or "").lstrip("-").lower()
            if key not in allowed:
                raise parameter_not_found(command.name, name or "")
            params[key] = True if value is None else value
        return params


class _NotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _not_found_record(cmdlet: str, name: str, domain: str) -> ErrorRecord:
    return error_record(
        f"The operation couldn't be performed because object '{name}' couldn't be found on 'dc01.{domain}'.",
        ["Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"],
        ErrorCategory.NotSpecified,
        "ManagementObjectNotFoundException",
        name,
        f"ManagementObjectNotFound,{cmdlet}",
    )


def _unsimulated(name: str) -> CmdletFailure:
    return CmdletFailure(
        error_record(
            f"The lab does not simulate '{name}' in a pipeline (only Select-Object -Property).",
            ["System.NotSupportedException"],
            ErrorCategory.NotImplemented,
            "NotSupportedException",
            name,
            "LabNotSimulated",
        )
    )


def _selected(item: ExchangeObject, names: Sequence[str]) -> PSObject:
    """What ``Select-Object -Property`` writes: a PSCustomObject whose note properties are the picks
    (a name the object lacks gets ``$null``, as PowerShell does)."""
    values = dict(item.properties)
    result = PSObject()
    result.PSObject.type_names = [
        f"Selected.{item.wire.PSTypeNames[0]}",
        "System.Management.Automation.PSCustomObject",
        "System.Object",
    ]
    for name in names:
        actual = next((k for k in values if k.lower() == name.lower()), name)
        result.PSObject.extended_properties.append(PSNoteProperty(actual, values.get(actual)))
    return result

"""The value types Exchange 2010 puts on the wire, as psrpcore objects the lab serializes.

Shapes follow serialized real objects: Microsoft's CSS-Exchange HealthChecker test data
(``microsoft/CSS-Exchange:Diagnostics/HealthChecker/Tests/DataCollection/E16/Exchange/GetExchangeServer.xml``,
``E19/Exchange/GetOwaVirtualDirectory.xml``, ``GetWebServicesVirtualDirectory.xml``,
``GetExchangeCertificate.xml``): an ``ADObjectId`` is an object whose ``<ToString>`` is its text form
(the canonical path for a site, the short name for a server); a ``MultiValuedProperty`` is an object
with a ``<LST>``; a ``Uri`` is ``<URI>``; an enumeration is an object with its type names, its text
(``Mailbox, ClientAccess, HubTransport`` for flags) and its ``<I32>``; ``ServerVersion`` is an object
whose text is ``Version 14.3 (Build 123.4)``. Generic type names carry Exchange 2010's assembly
versions (``Microsoft.Exchange.Data.Directory, Version=14.0.0.0``; mscorlib 2.0.0.0, .NET 3.5)
[inferred: the samples are from 2016/2019 and carry 15.0.0.0 / 4.0.0.0].

Enumeration values confirmed by the samples: ServerRole Mailbox = 2; AuthenticationMethod Basic = 0,
Ntlm = 2, Fba = 3, WindowsIntegrated = 4; ObjectState Unchanged = 1. The other numbers are
[UNCONFIRMED]; clients should read the text, as PowerShell shows it.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from psrpcore.types import (
    PSDateTime,
    PSEnumBase,
    PSFlagBase,
    PSGuid,
    PSList,
    PSNoteProperty,
    PSObject,
    PSType,
    PSUri,
)

DIRECTORY = "Microsoft.Exchange.Data.Directory"
SYSCONFIG = f"{DIRECTORY}.SystemConfiguration"
_ASSEMBLY = "Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
_MSCORLIB = "mscorlib, Version=2.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"

#: what every directory object derives from, after its own type names
AD_OBJECT = (
    f"{DIRECTORY}.ADObject",
    f"{DIRECTORY}.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
)
CONFIG_OBJECT = (f"{SYSCONFIG}.ADConfigurationObject", *AD_OBJECT)
_VERSION = re.compile(r"^Version (\d+)\.(\d+) \(Build (\d+)\.(\d+)\)$")


def _enum_type(name: str, members: Sequence[tuple[str, int]], *, flags: bool) -> Any:
    """An enumeration psrpcore serializes as Exchange does: type names, text (flags joined with
    ", ") and the number."""
    base: Any = PSFlagBase if flags else PSEnumBase
    return PSType([name], rehydrate=False)(base(name.rsplit(".", 1)[-1], list(members)))


# [MS] a flags enum (CSS-Exchange E16 GetExchangeServer.xml, above): Mailbox = 2 there, the rest [UNCONFIRMED]
ServerRole = _enum_type(
    f"{SYSCONFIG}.ServerRole",
    [
        ("none", 0),
        ("Mailbox", 2),
        ("ClientAccess", 4),
        ("UnifiedMessaging", 16),
        ("HubTransport", 32),
        ("Edge", 64),
    ],
    flags=True,
)
AuthenticationMethod = _enum_type(
    f"{SYSCONFIG}.AuthenticationMethod",
    [("Basic", 0), ("Digest", 1), ("Ntlm", 2), ("Fba", 3), ("WindowsIntegrated", 4), ("LiveIdFba", 5)],
    flags=False,
)
# [MS] value names: https://learn.microsoft.com/powershell/module/exchangepowershell/get-exchangecertificate
# (the AllowedServices enum, ff319670); numbers [UNCONFIRMED]
AllowedServices = _enum_type(
    "Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices",
    [("none", 0), ("IMAP", 1), ("POP", 2), ("UM", 4), ("IIS", 8), ("SMTP", 16), ("Federation", 32)],
    flags=True,
)
CertificateStatus = _enum_type(
    "Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateStatus",
    [
        (name, i)
        for i, name in enumerate(
            (
                "Unknown",
                "Valid",
                "Revoked",
                "DateInvalid",
                "Untrusted",
                "Invalid",
                "RevocationCheckFailure",
                "PendingRequest",
            )
        )
    ],
    flags=False,
)
ObjectState = _enum_type(
    "Microsoft.Exchange.Data.ObjectState",
    [("New", 0), ("Unchanged", 1), ("Changed", 2), ("Deleted", 3)],
    flags=False,
)


def server_role(roles: Iterable[str]) -> Any:
    value = ServerRole(0)
    for role in roles:
        value |= ServerRole[role]
    return value


def services(names: Iterable[str]) -> Any:
    value = AllowedServices(0)
    for name in names:
        value |= AllowedServices[name]
    return value


def obj(type_names: Sequence[str], text: str | None, properties: Iterable[tuple[str, Any]]) -> PSObject:
    """A serialized .NET object: type names, ``<ToString>`` and adapted properties in order."""
    value = PSObject()
    value.PSObject.type_names = list(type_names)
    if text is not None:
        value.PSObject.to_string = text
    for name, item in properties:
        value.PSObject.adapted_properties.append(PSNoteProperty(name, item))
    return value


def multi_valued(items: Iterable[Any], element: str = "System.String", assembly: str = _MSCORLIB) -> PSList:
    """Exchange's ``MultiValuedProperty`1`` of *element*: an object whose body is a list."""
    value = PSList(list(items))
    value.PSObject.type_names = [
        f"Microsoft.Exchange.Data.MultiValuedProperty`1[[{element}, {assembly}]]",
        "Microsoft.Exchange.Data.MultiValuedPropertyBase",
        "System.Object",
    ]
    return value


def ad_multi_valued(items: Iterable[Any], element: str) -> PSList:
    """``ADMultiValuedProperty`1`` (authentication method lists of virtual directories)."""
    value = multi_valued(items, element, f"{DIRECTORY}, {_ASSEMBLY}")
    value.PSObject.type_names.insert(
        0, value.PSObject.type_names[0].replace(".Data.Multi", ".Data.Directory.ADMulti")
    )
    return value


def ad_object_id(text: str, name: str, distinguished_name: str, domain: str) -> PSObject:
    """An ``ADObjectId``: its text is how PowerShell prints it (path, or a server's short name)."""
    return obj(
        (f"{DIRECTORY}.ADObjectId", "Microsoft.Exchange.Data.ObjectId", "System.Object"),
        text,
        [
            ("IsDeleted", False),
            ("Rdn", distinguished_name.split(",", 1)[0]),
            (
                "Parent",
                distinguished_name.split(",", 2)[1].partition("=")[2] if "," in distinguished_name else "",
            ),
            ("DistinguishedName", distinguished_name),
            ("IsRelativeDn", False),
            ("DomainId", domain),
            ("ObjectGuid", PSGuid(uuid.uuid5(uuid.NAMESPACE_DNS, distinguished_name.lower()))),
            ("Name", name),
        ],
    )


def server_version(text: str) -> PSObject:
    """``Microsoft.Exchange.Data.ServerVersion`` from its text form ``Version 14.3 (Build 123.4)``."""
    match = _VERSION.match(text)
    parts = [int(p) for p in match.groups()] if match else [0, 0, 0, 0]
    return obj(
        ("Microsoft.Exchange.Data.ServerVersion", "System.Object"),
        text,
        [
            ("Major", parts[0]),
            ("Minor", parts[1]),
            ("Build", parts[2]),
            ("Revision", parts[3]),
            ("FilePatchLevelDescription", None),
        ],
    )


def uri(value: str) -> PSUri | None:
    """A ``System.Uri`` (``<URI>``), or ``$null`` (``<Nil/>``) when unset, as the samples show."""
    return PSUri(value) if value else None


def when(value: dt.datetime) -> PSDateTime:
    value = value.astimezone(dt.timezone.utc)
    return PSDateTime(
        value.year, value.month, value.day, value.hour, value.minute, value.second, tzinfo=dt.timezone.utc
    )

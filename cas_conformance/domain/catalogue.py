"""The requirements catalogue as data: every id, its severity, section and subject kind.

Markers, report columns and the self-tests all read this one table; a check module implements the
logic, ``tests_cas`` holds one thin test per requirement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Subject(str, Enum):
    """What a requirement is parametrized over."""

    SERVER = "server"  # every Exchange server in the inventory
    CAS = "cas"  # servers whose RPC Client Access settings matter (CAS and PF-hosting mailbox servers)
    NON_CAS = "non-cas"  # servers without the Client Access role
    DATABASE = "database"  # every mailbox database
    RPC_ENDPOINT = "rpc-endpoint"  # every distinct RpcClientAccessServer value
    OWA_VDIR = "owa-vdir"  # every OWA virtual directory with an ExternalUrl
    CERTIFICATE = "certificate"  # every certificate assigned to a service
    NAME = "name"  # every published host name
    ENDPOINT = "endpoint"  # every published URL probed
    AUTODISCOVER = "autodiscover"  # every smtp domain, with probe credentials
    SMTP_DOMAIN = "smtp-domain"  # every smtp domain
    PEER_GROUP = "peer-group"  # every property compared across a peer group (CAS array or AD site)


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    severity: Severity
    section: str
    subject: Subject
    only_2010: bool = True


_SECTION_VER = "Applies to"
_SECTION_OUT = "Cannot Open Mailbox in Outlook 2007"
_SECTION_OUT2003_RPC = "Cannot Open Mailbox in Outlook 2003 and Exchange 2010 RTM"
_SECTION_OUT2003_POLL = "E-Mail Messages Take a Long Time to Load"
_SECTION_RPC = "Event ID 106 (RPC Client Access service on a server without Client Access)"
_SECTION_OWA = "DNS Change Prevents User from Signing In to Outlook Web App"
_SECTION_CERT = "Troubleshoot Certificate Wizard errors"
_SECTION_CONN = "Test Client Access Server Connectivity"
_SECTION_DRIFT = "Drift: the servers behind one name agree (peer groups; not a section of the reference)"

_C, _W = Severity.CRITICAL, Severity.WARNING

REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("VER-01", "Exchange 2010 runs SP2 or SP3", _C, _SECTION_VER, Subject.SERVER, only_2010=False),
    Requirement(
        "OUT-01",
        "RpcClientAccessServer names a Client Access server or array",
        _C,
        _SECTION_OUT,
        Subject.DATABASE,
    ),
    Requirement("OUT-02", "RpcClientAccessServer resolves in DNS", _C, _SECTION_OUT, Subject.RPC_ENDPOINT),
    Requirement(
        "OUT-03",
        "RpcClientAccessServer is in the database server's AD site",
        _W,
        _SECTION_OUT,
        Subject.DATABASE,
    ),
    Requirement(
        "OUT2003-01", "RPC encryption is not required for Outlook 2003", _C, _SECTION_OUT2003_RPC, Subject.CAS
    ),
    Requirement(
        "OUT2003-02",
        "Online-mode Outlook 2003 gets timely notifications (UDP push on, or polling below 60000 ms)",
        _W,
        _SECTION_OUT2003_POLL,
        Subject.CAS,
    ),
    Requirement(
        "RPC-01",
        "RPC Client Access counters exist where MSExchangeRPC runs on a server without Client Access",
        _W,
        _SECTION_RPC,
        Subject.NON_CAS,
    ),
    Requirement(
        "RPC-02",
        "No Event ID 106 whose category name is MSExchange RpcClientAccess",
        _W,
        _SECTION_RPC,
        Subject.SERVER,
    ),
    Requirement("OWA-01", "OWA FailbackUrl is set", _W, _SECTION_OWA, Subject.OWA_VDIR),
    Requirement(
        "OWA-02", "OWA FailbackUrl host differs from ExternalUrl host", _C, _SECTION_OWA, Subject.OWA_VDIR
    ),
    Requirement(
        "OWA-03",
        "OWA FailbackUrl host resolves to its Client Access server or a declared failback address",
        _C,
        _SECTION_OWA,
        Subject.OWA_VDIR,
    ),
    Requirement(
        "OWA-04",
        "OWA FailbackUrl answers over TLS with a valid certificate",
        _C,
        _SECTION_OWA,
        Subject.OWA_VDIR,
    ),
    Requirement(
        "PROXY-01",
        "WinHTTP proxy in effect (WinHttpSettings flags honoured) matches the declared proxy",
        _C,
        _SECTION_CERT,
        Subject.SERVER,
    ),
    Requirement(
        "PROXY-02",
        "WinHTTP bypass list covers every Exchange server's FQDN (WinHTTP matching)",
        _C,
        _SECTION_CERT,
        Subject.SERVER,
    ),
    Requirement("CERT-01", "Exchange certificate status is Valid", _C, _SECTION_CERT, Subject.CERTIFICATE),
    Requirement(
        "CERT-02", "IIS certificate covers every published host name", _C, _SECTION_CERT, Subject.SERVER
    ),
    Requirement(
        "CERT-03", "Exchange certificate does not expire soon", _W, _SECTION_CERT, Subject.CERTIFICATE
    ),
    Requirement("CONN-01", "Host name resolves", _C, _SECTION_CONN, Subject.NAME, only_2010=False),
    Requirement("CONN-02", "TCP 443 accepts connections", _C, _SECTION_CONN, Subject.NAME, only_2010=False),
    Requirement(
        "CONN-03", "TLS certificate chain is valid", _C, _SECTION_CONN, Subject.NAME, only_2010=False
    ),
    Requirement(
        "CONN-04",
        "Certificate revocation can be checked and is good",
        _C,
        _SECTION_CONN,
        Subject.NAME,
        only_2010=False,
    ),
    Requirement(
        "CONN-05", "Endpoint answers as Exchange does", _C, _SECTION_CONN, Subject.ENDPOINT, only_2010=False
    ),
    Requirement(
        "CONN-06",
        "Authenticated Autodiscover returns the configured servers",
        _C,
        _SECTION_CONN,
        Subject.AUTODISCOVER,
        only_2010=False,
    ),
    Requirement(
        "CONN-07",
        "MX resolves and SMTP offers STARTTLS",
        _W,
        _SECTION_CONN,
        Subject.SMTP_DOMAIN,
        only_2010=False,
    ),
    Requirement(
        "DRIFT-01",
        "Peer group members publish the same URLs and Outlook Anywhere settings",
        _C,
        _SECTION_DRIFT,
        Subject.PEER_GROUP,
    ),
    Requirement(
        "DRIFT-02", "Peer group members agree on RPC encryption", _C, _SECTION_DRIFT, Subject.PEER_GROUP
    ),
    Requirement(
        "DRIFT-03",
        "Peer group members' IIS certificates cover the same names",
        _W,
        _SECTION_DRIFT,
        Subject.PEER_GROUP,
    ),
    Requirement(
        "DRIFT-04",
        "Peer group members have the same WinHTTP proxy and bypass list",
        _C,
        _SECTION_DRIFT,
        Subject.PEER_GROUP,
    ),
    Requirement(
        "DRIFT-05", "Peer group members run the same Exchange build", _W, _SECTION_DRIFT, Subject.PEER_GROUP
    ),
)

_BY_ID = {r.id: r for r in REQUIREMENTS}
ID_PATTERN = re.compile(r"^[A-Z]+(?:2003)?-\d{2}$")


def requirement(requirement_id: str) -> Requirement:
    try:
        return _BY_ID[requirement_id]
    except KeyError:
        raise KeyError(f"unknown requirement id {requirement_id!r}") from None

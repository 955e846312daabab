"""The words of the requirements catalogue: what a requirement is, its severities, the subjects a
requirement is checked per and the sections of the reference it comes from.

Each requirement is declared once, with the check that implements it (``cas_conformance.checks``):
the ordered catalogue that markers, reports, waivers and the docs read is assembled there.
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
    """What a requirement is parametrized over (each enumerator of ``checks.subjects`` names one)."""

    SERVER = "server"  # every Exchange server in the inventory
    CAS = "cas"  # servers whose RPC Client Access settings matter (CAS and PF-hosting mailbox servers)
    CLIENT_ACCESS = "client-access"  # servers with the Client Access role
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
    """One requirement of the catalogue; ``only_2010``: it does not apply to a newer server."""

    id: str
    title: str
    severity: Severity
    section: str
    only_2010: bool = True


# The sections of Microsoft's "Troubleshooting Reference for Client Access Servers" (Exchange
# Server 2010 SP2 and SP3) the requirements come from, and the suite's own drift section.
SECTION_VER = "Applies to"
SECTION_OUT = "Cannot Open Mailbox in Outlook 2007"
SECTION_OUT2003_RPC = "Cannot Open Mailbox in Outlook 2003 and Exchange 2010 RTM"
SECTION_OUT2003_POLL = "E-Mail Messages Take a Long Time to Load"
SECTION_RPC = "Event ID 106 (RPC Client Access service on a server without Client Access)"
SECTION_OWA = "DNS Change Prevents User from Signing In to Outlook Web App"
SECTION_CERT = "Troubleshoot Certificate Wizard errors"
SECTION_CONN = "Test Client Access Server Connectivity"
SECTION_DRIFT = "Drift: the servers behind one name agree (peer groups; not a section of the reference)"
#: The sections in the reference's order (drift last): the catalogue lists its requirements so.
SECTIONS = (
    SECTION_VER,
    SECTION_OUT,
    SECTION_OUT2003_RPC,
    SECTION_OUT2003_POLL,
    SECTION_RPC,
    SECTION_OWA,
    SECTION_CERT,
    SECTION_CONN,
    SECTION_DRIFT,
)

ID_PATTERN = re.compile(r"^[A-Z]+(?:2003)?-\d{2}$")

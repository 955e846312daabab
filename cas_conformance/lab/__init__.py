"""The built-in lab: an Exchange 2010 organisation on loopback, served by real protocol servers.

A library beside the product. The product reaches it only where it starts a lab (an inventory's
``lab_scenario``, ``cas-conformance lab``); whatever else uses the lab imports it from here:

    Lab, start_lab, load_scenario, FAULTS  a lab in this process, from a scenario file and faults
    LabProcess                             the standalone lab (``python -m cas_conformance.lab``)
    Pki, IssuedCert, self_signed, ...      its certificate authority, for any certificate a test needs
    DnsServer, HttpsServer, WinRMServer    single servers, for tests that drive one channel
    kdc_programs, KdcUnavailable           whether MIT Kerberos is there for a lab over Kerberos

Inside: ``scenario/`` (the organisation and its faults), ``servers/`` (the protocol servers),
``auth/`` (NTLM, Kerberos, CredSSP, the KDC), ``exchange/`` (what an Exchange server answers).

The lab needs the ``lab`` extra (``pip install 'cas-conformance[lab]'``); importing it without
raises :class:`~cas_conformance.errors.LabError` saying so.
"""

from __future__ import annotations

from cas_conformance.errors import LabError

#: The packages of the ``lab`` extra: only the lab imports them.
_EXTRA = ("psrpcore",)

try:
    from cas_conformance.lab.auth.kdc import KdcUnavailable, kdc_programs
    from cas_conformance.lab.embedded import EmbeddedLab, start_embedded_lab, start_lab
    from cas_conformance.lab.exchange.powershell import exchange_powershell
    from cas_conformance.lab.exchange.windows_shell import read_collector_command
    from cas_conformance.lab.pki import IssuedCert, KeyType, Pki, SignatureHash, generate_key, self_signed
    from cas_conformance.lab.process import LabProcess
    from cas_conformance.lab.runtime import Lab
    from cas_conformance.lab.scenario.faults import FAULTS
    from cas_conformance.lab.scenario.model import Scenario, load_scenario
    from cas_conformance.lab.scenario.names import resolve_scenario
    from cas_conformance.lab.servers.dns import DnsServer, Zone
    from cas_conformance.lab.servers.http import (
        HttpHandler,
        HttpRequest,
        HttpResponse,
        HttpServer,
        HttpsServer,
    )
    from cas_conformance.lab.servers.net import raise_open_files_limit
    from cas_conformance.lab.servers.revocation import PkiHandler, pki_handler
    from cas_conformance.lab.servers.smtp import SmtpServer
    from cas_conformance.lab.servers.winrm import WinRMServer, offer_tls_up_to
    from cas_conformance.lab.servers.winrs import CommandRequest, CommandResult
except ModuleNotFoundError as exc:
    _missing = (exc.name or "").partition(".")[0]
    if _missing not in _EXTRA:
        raise
    raise LabError(
        f"the built-in lab needs the lab extra ({_missing} is not installed): pip install 'cas-conformance[lab]'"
    ) from None

__all__ = [
    "FAULTS",
    "CommandRequest",
    "CommandResult",
    "DnsServer",
    "EmbeddedLab",
    "HttpHandler",
    "HttpRequest",
    "HttpResponse",
    "HttpServer",
    "HttpsServer",
    "IssuedCert",
    "KdcUnavailable",
    "KeyType",
    "Lab",
    "LabProcess",
    "Pki",
    "PkiHandler",
    "Scenario",
    "SignatureHash",
    "SmtpServer",
    "WinRMServer",
    "Zone",
    "exchange_powershell",
    "generate_key",
    "kdc_programs",
    "load_scenario",
    "offer_tls_up_to",
    "pki_handler",
    "raise_open_files_limit",
    "read_collector_command",
    "resolve_scenario",
    "self_signed",
    "start_embedded_lab",
    "start_lab",
]

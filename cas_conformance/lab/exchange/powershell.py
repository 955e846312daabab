"""The lab's Exchange remote PowerShell, assembled: organisation, runspace, shells, virtual directory.

:func:`exchange_powershell` is the one call the running lab makes; it hands back the
``/PowerShell`` directory whose :meth:`~cas_conformance.lab.servers.psrp_http.PowerShellDirectory.route`
wraps the lab's web handlers, and whose runspace counts every cmdlet (``--stats-out``:
``psrp_cmdlets``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence

from cryptography.hazmat.primitives import serialization

from cas_conformance.lab.exchange.cmdlets import ExchangeRunspace
from cas_conformance.lab.exchange.objects import ExchangeOrganisation, LabCertificate
from cas_conformance.lab.pki import KeyType, PrivateKey, generate_key, self_signed
from cas_conformance.lab.scenario.model import LabServer, Scenario
from cas_conformance.lab.servers.psrp import PsrpShells
from cas_conformance.lab.servers.psrp_http import Authenticator, BasicAuthenticator, PowerShellDirectory


class _ServerCertificates:
    """Each server's store: its self-signed certificate (Exchange 2010 setup makes one: "Exchange
    Server 2010 includes a default self-signed SSL certificate",
    https://learn.microsoft.com/en-us/previous-versions/office/exchange-server-2010/bb125165(v=exchg.141))
    and, on a CAS, the published certificate enabled for IIS and SMTP. Self-signed ones are made on
    first use, all with one key."""

    def __init__(
        self, scenario: Scenario, published: Callable[[LabServer], tuple[bytes, str]], now: dt.datetime
    ) -> None:
        self._scenario = scenario
        self._published = published
        self._now = now
        self._lock = threading.Lock()
        self._own: dict[str, bytes] = {}
        self._key: PrivateKey | None = None

    def __call__(self, server: LabServer) -> Sequence[LabCertificate]:
        with self._lock:
            if self._key is None:
                self._key = generate_key(KeyType.RSA2048)
            own = self._own.get(server.name)
            if own is None:
                issued = self_signed(
                    [server.name, server.fqdn(self._scenario.domain)],
                    not_before=self._now - dt.timedelta(days=400),
                    not_after=self._now + dt.timedelta(days=5 * 365 - 400),
                    common_name=server.name,
                    key=self._key,
                )
                own = self._own[server.name] = issued.cert.public_bytes(serialization.Encoding.DER)
        # Setup enables it for IMAP, POP, IIS and SMTP; on a CAS the published certificate took IIS.
        services = ("IMAP", "POP", "SMTP") if server.is_cas else ("IMAP", "POP", "IIS", "SMTP")
        result = [LabCertificate(own, services, "Valid", is_self_signed=True)]
        if server.is_cas:
            der, status = self._published(server)
            result.append(LabCertificate(der, ("IIS", "SMTP"), status))
        return result


def exchange_powershell(
    scenario: Scenario,
    addresses: Mapping[str, str],
    credentials: Mapping[str, str],
    published: Callable[[LabServer], tuple[bytes, str]],
    now: dt.datetime,
    stopping: threading.Event,
    authenticate: Authenticator | None = None,
) -> PowerShellDirectory:
    """The endpoint for a lab whose servers listen on *addresses* (server name, lower case -> IP).

    *published* gives a server's IIS certificate (DER: the published one, or its own renewal) and
    its status; *authenticate* defaults to
    Basic over HTTPS against *credentials*.
    """
    organisation = ExchangeOrganisation(scenario, _ServerCertificates(scenario, published, now), now)
    shells = PsrpShells(ExchangeRunspace(organisation), stopping)
    cas = {
        addresses[x.name.lower()]: x.name
        for x in scenario.servers
        if x.is_cas and x.name.lower() in addresses
    }
    auth = authenticate or BasicAuthenticator(credentials, scenario.domain, scenario.netbios)
    return PowerShellDirectory(shells, auth, cas.get)

"""The running lab: every simulated host on its own loopback address, real protocol servers.

Addresses come from consecutive 127.X.Y.0/24 blocks from a random start per lab (so labs can run
side by side; a lab of 2,000 servers spans eight /24s: ``servers.net.loopback_block``); every server kind
listens on one port across its addresses, which the written inventory reaches through
``connect_to`` rules (``:443::PORT``), exactly as it would reach production names.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from cas_conformance.lab.auth.kdc import Kdc, lab_kdc
from cas_conformance.lab.exchange.powershell import exchange_powershell
from cas_conformance.lab.exchange.web import exchange_site
from cas_conformance.lab.exchange.windows_shell import CollectorHandler, HostModel
from cas_conformance.lab.pki import Pki, SignatureHash
from cas_conformance.lab.scenario.model import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    LabServer,
    Scenario,
    server_key,
    servers_by_name,
)
from cas_conformance.lab.servers.blackhole import BlackHole
from cas_conformance.lab.servers.dns import DnsServer, Zone
from cas_conformance.lab.servers.http import HttpRequest, HttpResponse, HttpServer, HttpsServer
from cas_conformance.lab.servers.net import bind_tcp, loopback_block, raise_open_files_limit
from cas_conformance.lab.servers.psrp_http import NegotiateAuthenticator
from cas_conformance.lab.servers.revocation import pki_handler
from cas_conformance.lab.servers.smtp import SmtpServer
from cas_conformance.lab.servers.winrm import WinRMServer, offer_tls_up_to

ROLES = ("dns", "ocsp", "pki", "smtp", "lb-mail", "lb-autodiscover", "lb-outlook", "proxy", "kdc")
_FIRST_SERVER = 9  # index of the first server's address in the lab's block (host .10)
#: the port the written inventory reaches the lab's /PowerShell site on (connect_to maps it)
POWERSHELL_PORT = 444


_LISTENER_FAULTS = frozenset(
    {"winrm-refused", "winrm-blackhole", "winrm-http-500", "winrm-wrong-credentials"}
)


@dataclass(frozen=True)
class PublishedCertificate:
    """The certificate every CAS has enabled for IIS and SMTP (what the HTTPS endpoints serve)."""

    thumbprint: str
    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    status: str


def _status_500(request: HttpRequest) -> HttpResponse:
    return HttpResponse(500, [("Content-Type", "text/html")], b"<h1>500 - Internal server error.</h1>")


#: listening sockets per simulated server: WinRM over HTTPS and HTTP, HTTPS, HTTP, the /PowerShell site
LISTENERS_PER_SERVER = 5
OPEN_FILES_HEADROOM = 1024  # the run's connections, threads' files, the KDC's


def _not_found(request: HttpRequest) -> HttpResponse:
    return HttpResponse(404, [("Content-Type", "text/html")], b"<h1>404 - File or directory not found.</h1>")


class Lab:
    def __init__(
        self,
        scenario: Scenario,
        *,
        password: str | None = None,
        winrm_latency: float = 0.0,
        now: datetime | None = None,
        kerberos: bool = False,
    ) -> None:
        self.scenario = scenario
        self.kerberos = kerberos
        self.kdc: Kdc | None = None
        self.password = password or DEFAULT_PASSWORD
        self.user = f"{scenario.netbios}\\{DEFAULT_USER}"
        self.winrm_latency = winrm_latency
        self.now = now or datetime.now(timezone.utc)
        # roles on .1 to .9 of the first /24, servers from .10 on (continuing into the next /24s)
        block = loopback_block(_FIRST_SERVER + len(scenario.servers))
        self.addresses: dict[str, str] = dict(zip(ROLES, block, strict=False))
        for i, server in enumerate(scenario.servers):
            self.addresses[server.name.lower()] = block[_FIRST_SERVER + i]
        self._servers_by_name = servers_by_name(scenario)
        self.workdir = Path(tempfile.mkdtemp(prefix="cas-conformance-lab-"))
        self.ca_bundle = self.workdir / "lab-ca.pem"
        self._servers: list[Any] = []
        self._stopped = threading.Event()
        self.stopping = self._stopped  # handlers that simulate a hang wait on it
        self.winrm: WinRMServer | None = None
        self.winrm_http: WinRMServer | None = None
        self.ports: dict[str, int] = {}
        self._reissue_lock = threading.Lock()
        self._reissued: dict[str, bytes] = {}

    # --- addressing -------------------------------------------------------------------------
    def address_of(self, target: str) -> str:
        return self.addresses[target.lower()]

    def server_address(self, fqdn_or_name: str) -> str | None:
        server = self._servers_by_name.get(server_key(fqdn_or_name))
        return None if server is None else self.addresses[server.name.lower()]

    def zone(self) -> Zone:
        s = self.scenario
        zone = Zone(sorted({s.domain, *s.smtp_domains}))
        for server in s.servers:
            zone.add(server.fqdn(s.domain), "A", self.addresses[server.name.lower()])
        for name, target in s.names.items():
            zone.add(name, "A", self.addresses[target.lower()])
        for domain in s.smtp_domains:
            zone.add(domain, "MX", f"10 {s.mx_host}")
        for name in s.dns_removed:
            zone.remove(name)
        for server in s.servers:
            if server.network_fault.startswith("dns-"):
                zone.set_fault(server.fqdn(s.domain), server.network_fault.removeprefix("dns-"))  # type: ignore[arg-type]
        return zone

    # --- PKI --------------------------------------------------------------------------------
    def _build_pki(self) -> None:
        s = self.scenario
        self.pki = Pki.generate(
            f"{s.organisation} Lab",
            ocsp_url=f"http://ocsp.{s.domain}/ocsp",
            crl_base_url=f"http://pki.{s.domain}/crl",
            intermediate_hash=SignatureHash.SHA1 if s.intermediate_sha1 else SignatureHash.SHA256,
            now=self.now,
        )
        # WinRM listeners use their own chain so faults of the published one never block collection.
        self.winrm_pki = Pki.generate(
            f"{s.organisation} Machines",
            ocsp_url=f"http://ocsp.{s.domain}/machines",
            crl_base_url=f"http://pki.{s.domain}/machines",
            now=self.now,
        )
        fqdns = [x.fqdn(s.domain) for x in s.servers]
        self.winrm_cert = self.winrm_pki.issue(
            fqdns,
            not_before=self.now - timedelta(days=30),
            not_after=self.now + timedelta(days=700),
            common_name=fqdns[0],
        )
        if s.certificate_expired:
            not_before, not_after = self.now - timedelta(days=400), self.now - timedelta(days=2)
        else:
            not_before, not_after = (
                self.now - timedelta(days=30),
                self.now + timedelta(days=s.certificate_days_left),
            )
        names = s.certificate_names or [f"mail.{s.domain}"]
        self.published = self.pki.issue(
            names, not_before=not_before, not_after=not_after, common_name=names[0]
        )
        status = "Valid"
        if s.certificate_revoked:
            self.pki.revoke(self.published.serial)
            status = "Revoked"
        if s.certificate_expired:
            status = "DateInvalid"
        self.published_info = PublishedCertificate(
            thumbprint=self.published.thumbprint,
            subject=self.published.cert.subject.rfc4514_string(),
            issuer=self.published.cert.issuer.rfc4514_string(),
            names=tuple(names),
            not_before=not_before,
            not_after=not_after,
            status=status,
        )
        self.ca_bundle.write_bytes(self.pki.root_pem() + self.winrm_pki.root_pem())

    # --- lifecycle --------------------------------------------------------------------------
    @staticmethod
    def open_files(servers: int) -> int:
        """The open files a lab of *servers* simulated servers needs: the listening sockets it binds
        and head room for the connections a run opens."""
        return LISTENERS_PER_SERVER * servers + OPEN_FILES_HEADROOM

    def start(self) -> Lab:
        raise_open_files_limit(Lab.open_files(len(self.scenario.servers)))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        s = self.scenario
        self._build_pki()
        self.dns = DnsServer(self.addresses["dns"], self.zone())
        self.dns.start()
        self._servers.append(self.dns)
        self.ports["dns"] = self.dns.port

        if self.kerberos:  # before WinRM: its listeners read the KDC's keytab
            hosts = [x.fqdn(s.domain) for x in s.servers] + sorted(s.names)
            self.kdc = lab_kdc(s.domain, self.addresses["kdc"], {DEFAULT_USER: self.password}, hosts)
            self.kdc.start()
            self._servers.append(self.kdc)
            self.ports["kdc"] = self.kdc.port

        self.collector = CollectorHandler(
            HostModel(s, self.addresses, self.now, self._stopped, lambda: self.winrm_latency)
        )
        self._start_winrm()

        # /PowerShell on every CAS, http and https: Basic over HTTPS, and with the KDC Kerberos (the
        # virtual directory's default; over http sealed) through the same acceptor as WinRM's
        negotiate = (
            NegotiateAuthenticator({self.user: self.password}, str(self.kdc.keytab))
            if self.kdc is not None
            else None
        )
        self.powershell = exchange_powershell(
            s,
            self.addresses,
            {self.user: self.password},
            self._published_der,
            self.now,
            self._stopped,
            authenticate=negotiate,
        )
        web_targets = [x.name.lower() for x in s.servers] + ["lb-mail", "lb-autodiscover"]
        closed = {self._resolve_static(h) for h in s.closed_443}  # those addresses refuse 443
        web_addresses = sorted({self.addresses[t] for t in web_targets} - closed)
        context = self.published.ssl_context(allow_sha1=s.intermediate_sha1)
        self.https = HttpsServer(
            web_addresses,
            {n: context for n in self.published_info.names},
            self.powershell.route(exchange_site(s, self.probe_login), tls=True),
            default_site=self.published_info.names[0],
        )
        self.https.start()
        self._servers.append(self.https)
        self.ports["https"] = self.https.port
        self._start_powershell_site()

        delay = (lambda: s.ocsp_delay) if s.ocsp_delay else None
        self._pki_handlers = [pki_handler(self.pki, ocsp_delay=delay), pki_handler(self.winrm_pki)]
        pki_addresses = [self.addresses["pki"]] + ([self.addresses["ocsp"]] if s.ocsp_reachable else [])
        # IIS answers plain HTTP too (Setup's OAB InternalUrl is http://); the PKI names share the port.
        site = exchange_site(s, self.probe_login)
        self._http_routes = {a: self._pki_route for a in pki_addresses} | {
            a: site for a in web_addresses if a not in pki_addresses
        }
        self.pki_http = HttpServer(
            sorted(self._http_routes), self.powershell.route(self._http_route, tls=False)
        )
        self.pki_http.start()
        self._servers.append(self.pki_http)
        self.ports["http"] = self.pki_http.port

        smtp_context = self.published.ssl_context(allow_sha1=s.intermediate_sha1) if s.smtp_starttls else None
        self.smtp = SmtpServer([self.addresses["smtp"]], hostname=s.mx_host, tls_context=smtp_context)
        self.smtp.start()
        self._servers.append(self.smtp)
        self.ports["smtp"] = self.smtp.port

    def _start_powershell_site(self) -> None:
        """/PowerShell of every Client Access server on a site of its own, bound with the servers'
        machine certificate (as the WinRM listeners are), so faults of the published certificate never
        block reading Exchange; a server whose WinRM a per-host fault kills is not served there."""
        s = self.scenario
        alive = [
            self.addresses[x.name.lower()]
            for x in s.servers
            if x.is_cas and x.network_fault not in _LISTENER_FAULTS
        ]
        fqdns = [x.fqdn(s.domain) for x in s.servers]
        context = self.winrm_cert.ssl_context()
        if not alive:  # nobody serves it: a port nobody listens on
            probe = bind_tcp([self.addresses["proxy"]])[0]
            self.ports["powershell"] = probe.getsockname()[1]
            probe.close()
            return
        self.powershell_site = HttpsServer(
            alive,
            dict.fromkeys(fqdns, context),
            self.powershell.route(_not_found, tls=True),
            default_site=fqdns[0],
        )
        self.powershell_site.start()
        self._servers.append(self.powershell_site)
        self.ports["powershell"] = self.powershell_site.port

    def _start_winrm(self) -> None:
        """WinRM over HTTPS and HTTP on every server address, one port each; a per-host network
        fault takes that host's address off the shared listener and puts its own on it."""
        by_fault: dict[str, list[str]] = {}
        for server in self.scenario.servers:
            fault = server.network_fault if server.network_fault in _LISTENER_FAULTS else ""
            by_fault.setdefault(fault, []).append(self.address_of(server.name))
        tls = offer_tls_up_to(self.winrm_cert.ssl_context(), self.scenario.winrm_tls)
        fqdns = [x.fqdn(self.scenario.domain) for x in self.scenario.servers]
        for scheme, context in (("https", tls), ("http", None)):
            port = 0
            first: WinRMServer | None = None
            for fault, addresses in sorted(by_fault.items()):
                listener = self._winrm_listener(fault, addresses, context, port, fqdns)
                if listener is None:
                    continue
                listener.start()
                self._servers.append(listener)
                port = port or listener.port
                if fault == "":
                    first = listener
            if not port:  # every server refuses: a port number nobody listens on
                probe = bind_tcp([self.addresses["proxy"]])[0]
                port = probe.getsockname()[1]
                probe.close()
            self.ports[f"winrm-{scheme}"] = port
            if scheme == "https":
                self.winrm = first
            else:
                self.winrm_http = first

    def _winrm_listener(
        self, fault: str, addresses: list[str], context: ssl.SSLContext | None, port: int, fqdns: list[str]
    ) -> Any:
        if fault == "":
            credentials = {self.user: self.password}
            keytab = self.kdc.keytab if self.kdc is not None else None
            return WinRMServer(  # CredSSP enabled on the service (HTTPS): the second hop can be made
                addresses,
                self.collector,
                credentials,
                tls_context=context,
                port=port,
                keytab=keytab,
                credssp=True,
            )
        if fault == "winrm-wrong-credentials":
            other = {self.user: secrets.token_urlsafe(16)}
            return WinRMServer(addresses, self.collector, other, tls_context=context, port=port)
        if fault == "winrm-blackhole":
            return BlackHole(addresses, port=port)
        if fault == "winrm-http-500":
            if context is None:
                return HttpServer(addresses, _status_500, port=port)
            return HttpsServer(
                addresses, dict.fromkeys(fqdns, context), _status_500, port=port, default_site=fqdns[0]
            )
        return None  # winrm-refused: nothing listens

    def _resolve_static(self, name: str) -> str:
        target = self.scenario.names.get(name)
        if target:
            return self.addresses[target.lower()]
        return self.server_address(name) or ""

    def _http_route(self, request: Any) -> Any:
        return self._http_routes[request.local_address](request)

    def _pki_route(self, request: Any) -> Any:
        handler = self._pki_handlers[1] if "/machines" in request.path else self._pki_handlers[0]
        return handler(request)

    def _published_der(self, server: LabServer) -> tuple[bytes, str]:
        """The IIS certificate *server* has enabled: the published one, or (drift between array
        members) a renewal of it or another one with more names, issued by the same CA."""
        status = server.certificate_status or self.published_info.status
        if not (server.certificate_renewed or server.certificate_extra_names):
            return self.published.cert.public_bytes(Encoding.DER), status
        with self._reissue_lock:
            der = self._reissued.get(server.name)
            if der is None:
                info = self.published_info
                names = list(info.names) + list(server.certificate_extra_names)
                issued = self.pki.issue(
                    names, not_before=info.not_before, not_after=info.not_after, common_name=names[0]
                )
                der = self._reissued[server.name] = issued.cert.public_bytes(Encoding.DER)
        return der, status

    def probe_login(self) -> tuple[str, str]:
        return (self.scenario.probe_mailbox, self.password)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        for server in reversed(self._servers):
            with contextlib.suppress(Exception):
                server.stop()
        for handler in getattr(self, "_pki_handlers", []):
            handler.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def check(self) -> None:
        """Re-raise the first exception any lab server thread recorded."""
        for server in self._servers:
            server.check()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the suite needs to reach it ----------------------------------------------------
    def connect_to(self) -> str:
        p = self.ports
        return ",".join(
            [
                f":443::{p['https']}",
                f":80::{p['http']}",
                f":25::{p['smtp']}",
                f":5986::{p['winrm-https']}",
                f":5985::{p['winrm-http']}",
                f":{POWERSHELL_PORT}::{p['powershell']}",
            ]
        )

    def simulates(self, host: str) -> bool:
        return self.server_address(host) is not None

    def run_vars(self) -> dict[str, str]:
        s = self.scenario
        variables = {
            "dns_servers": f"{self.addresses['dns']}:{self.ports['dns']}",
            "connect_to": self.connect_to(),
            "tls_ca_bundle": str(self.ca_bundle),
            "dns_domain": s.domain,
            "smtp_domains": ",".join(s.smtp_domains),
        }
        if (
            self.kdc is not None
        ):  # /PowerShell as Exchange sets it up: Kerberos over http://<fqdn>/PowerShell/
            variables |= {"exchange_powershell_auth": "kerberos", "exchange_powershell_scheme": "http"}
        else:  # Basic over HTTPS, on a site of its own
            variables |= {
                "exchange_powershell_auth": "basic",
                "exchange_powershell_scheme": "https",
                "exchange_powershell_port": str(POWERSHELL_PORT),
            }
        if self.kdc is not None:
            variables["kerberos_config"] = str(self.kdc.krb5_conf)
        variables.update(s.declared)
        return variables

    def host_vars(self, host: str) -> dict[str, str]:
        if self.kdc is not None:  # Kerberos names the account by its principal
            return {
                "ansible_user": self.kdc.principal(DEFAULT_USER),
                "ansible_winrm_transport": "kerberos",
                "ansible_winrm_scheme": "https",
                "ansible_winrm_ca_trust_path": str(self.ca_bundle),
            }
        return {
            "ansible_user": self.user,
            "ansible_winrm_transport": "ntlm",
            "ansible_winrm_scheme": "https",
            "ansible_winrm_ca_trust_path": str(self.ca_bundle),
            **self.declared_host_vars(host),
        }

    def declared_host_vars(self, host: str) -> dict[str, str]:
        """What the scenario declares for one server's inventory line (failback_addresses)."""
        server = self._servers_by_name.get(server_key(host))
        if server is None or not server.failback_addresses:
            return {}
        return {"failback_addresses": ",".join(self.address_of(t) for t in server.failback_addresses)}

    @property
    def environ(self) -> dict[str, str]:
        prefix = self.scenario.declared.get("probe_credentials")
        if not prefix:
            return {}
        return {f"{prefix}_USER": self.scenario.probe_mailbox, f"{prefix}_PASSWORD": self.password}

    def describe(self) -> str:
        s = self.scenario
        faults = ", ".join(s.faults) or "none"
        return f"scenario {s.name} ({len(s.servers)} servers, faults: {faults}), DNS {self.run_vars()['dns_servers']}"

    def endpoints(self) -> list[str]:
        a, p = self.addresses, self.ports
        lines = [f"dns      udp+tcp {a['dns']}:{p['dns']}"]
        for x in self.scenario.servers:
            ip = a[x.name.lower()]
            lines.append(
                f"winrm    {x.fqdn(self.scenario.domain)} https://{ip}:{p['winrm-https']}/wsman "
                f"http://{ip}:{p['winrm-http']}/wsman"
            )
        lines.append(f"https    {', '.join(self.published_info.names)} on port {p['https']}")
        cas = [x.fqdn(self.scenario.domain) for x in self.scenario.servers if x.is_cas]
        auth = "Kerberos, Basic" if self.kdc is not None else "Basic"
        lines.append(
            f"psrp     https://{{{','.join(cas)}}}/PowerShell/ (Microsoft.Exchange, {auth}) on port {p['https']}, "
            f"and on port {p['powershell']} with the machine certificate (the written inventory's)"
        )
        lines.append(f"ocsp/crl http://{a['ocsp']}:{p['http']}/ocsp http://{a['pki']}:{p['http']}/crl/")
        lines.append(f"smtp     {self.scenario.mx_host} {a['smtp']}:{p['smtp']}")
        if self.kdc is not None:
            lines.append(
                f"kerberos realm {self.kdc.realm}, KDC {a['kdc']}:{p['kdc']}, krb5.conf {self.kdc.krb5_conf}"
            )
        return lines

    def stats(self) -> dict[str, dict[str, int]]:
        winrm: Counter[str] = Counter()
        lines: Counter[str] = Counter()
        stdin: Counter[str] = Counter()
        for server in (self.winrm, self.winrm_http):
            if server is not None:
                winrm.update(server.stats)
                stdin.update(server.stdin_bytes)
                for host, chars in server.command_line_chars.items():
                    lines[host] = max(lines[host], chars)
        return {
            "winrm_commands": dict(winrm),
            "winrm_command_line_chars": dict(lines),
            "winrm_stdin_bytes": {host: stdin.get(host, 0) for host in winrm},
            "dns_queries": dict(self.dns.stats),
            "tls_handshakes": dict(self.https.stats),
            "psrp_cmdlets": dict(self.powershell.shells.runspace.stats),
        }

    def ocsp_requests(self) -> int:
        """OCSP requests the lab's responders answered (for the published PKI and WinRM's)."""
        return sum(handler.ocsp_requests for handler in getattr(self, "_pki_handlers", []))

    def inventory_text(self, ca_bundle: Path | None = None) -> str:
        """An inventory that reaches this lab (never the password)."""
        run = self.run_vars()
        if ca_bundle is not None:
            run["tls_ca_bundle"] = str(ca_bundle)
        host = self.host_vars("")
        if ca_bundle is not None:
            host["ansible_winrm_ca_trust_path"] = str(ca_bundle)
        lines = [
            f"# Reaches the cas-conformance lab (scenario {self.scenario.name}), written "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}.",
            "# Password: CAS_CONFORMANCE_PASSWORD (the lab's --password, or the documented default).",
            "",
        ]
        for x in self.scenario.servers:
            fqdn = x.fqdn(self.scenario.domain)
            declared = self.declared_host_vars(fqdn)
            lines.append(" ".join([fqdn, *(f"{k}={v}" for k, v in declared.items())]))
        lines += ["", "[all:vars]"]
        lines += [f"{k} = {v}" for k, v in {**run, **host}.items()]
        return "\n".join(lines) + "\n"

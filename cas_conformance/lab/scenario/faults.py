"""Named faults: each one breaks the lab the way a documented failure mode breaks a real
organisation, and declares the requirement ids it must trip (and the dependent ones it may).

The fault matrix self-test runs the lab once per fault and checks that exactly these fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from cas_conformance.errors import LabError
from cas_conformance.lab.scenario.model import LabDatabase, LabServer, Scenario


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    must_fail: frozenset[str]
    may_fail: frozenset[str]
    apply: Callable[[Scenario], None]


FAULTS: dict[str, Fault] = {}


def fault(
    name: str, description: str, must: str, may: str = ""
) -> Callable[[Callable[[Scenario], None]], None]:
    def register(apply: Callable[[Scenario], None]) -> None:
        FAULTS[name] = Fault(name, description, frozenset(must.split()), frozenset(may.split()), apply)

    return register


def _first_cas(s: Scenario) -> str:
    return next(x.name for x in s.servers if x.is_cas and x.external_host)


def _first_db(s: Scenario) -> LabDatabase:
    return next(d for d in s.databases if s.server(d.server).site == s.server(_first_cas(s)).site)


@fault("version-sp1", "a Client Access server still runs Exchange 2010 SP1", "VER-01", "DRIFT-05")
def _version_sp1(s: Scenario) -> None:
    s.server(_first_cas(s)).version = "Version 14.1 (Build 218.15)"


@fault("rpc-cas-is-mailbox-only", "a database's RpcClientAccessServer names a Mailbox-only server", "OUT-01")
def _rca_mailbox(s: Scenario) -> None:
    db = _first_db(s)
    db.rpc_client_access_server = s.server(db.server).fqdn(s.domain)


@fault("rpc-cas-array-no-dns", "the CAS array's FQDN has no A record", "OUT-02")
def _array_no_dns(s: Scenario) -> None:
    s.dns_removed.add(s.arrays[0].fqdn)


@fault("rpc-cas-other-site", "a database's RpcClientAccessServer is a CAS in another AD site", "OUT-03")
def _other_site(s: Scenario) -> None:
    db = _first_db(s)
    home = s.server(db.server).site
    other = next(x for x in s.servers if x.is_cas and x.site != home)
    db.rpc_client_access_server = other.fqdn(s.domain)


@fault(
    "rpc-encryption-required",
    "a CAS requires RPC encryption; Outlook 2003 declared cached, not enforced",
    "OUT2003-01",
    "DRIFT-02",
)
def _encryption(s: Scenario) -> None:
    s.server(_first_cas(s)).encryption_required = True
    s.declared["outlook2003_clients"] = "cached"


@fault("outlook2003-online", "online-mode Outlook 2003 clients, no push notifications on a CAS", "OUT2003-02")
def _online(s: Scenario) -> None:
    s.declared["outlook2003_clients"] = "online"
    s.server(_first_cas(s)).push_notifications = False


def _mailbox_only(s: Scenario) -> LabServer:
    return next(x for x in s.servers if not x.is_cas)


@fault(
    "rpc-counters-missing",
    "MSExchangeRPC runs on the Mailbox-only server, whose RPC Client Access counters are not installed",
    "RPC-01",
)
def _rpc_counters_missing(s: Scenario) -> None:
    _mailbox_only(s).rpc_counters = False


@fault(
    "rpc-event-106",
    "the Mailbox-only server logged Event 106 for the MSExchange RpcClientAccess counter category",
    "RPC-02",
)
def _rpc_event_106(s: Scenario) -> None:
    _mailbox_only(s).event_106 = True


@fault(
    "outlook2003-polling-not-lowered",
    "online-mode Outlook 2003 clients; the CAS that relied on a lowered polling interval is back at 60000 ms",
    "OUT2003-02",
)
def _polling_default(s: Scenario) -> None:
    server = next(x for x in s.servers if x.is_cas and x.polling_ms is not None and not x.push_notifications)
    server.polling_ms = 60000


@fault(
    "owa-failback-undeclared-vip",
    "the failback name points at the load balancer's virtual IP, which failback_addresses does not declare",
    "OWA-03",
)
def _failback_undeclared_vip(s: Scenario) -> None:
    server = s.server(_first_cas(s))
    s.names[server.failback_host] = "lb-mail"
    server.failback_addresses = []


@fault(
    "winhttp-proxy-flags-direct",
    "a server's WinHttpSettings still stores the declared proxy, but its flags say direct access",
    "PROXY-01",
    "DRIFT-04",
)
def _proxy_flags_direct(s: Scenario) -> None:
    server = s.server(_first_cas(s))
    server.winhttp_stale_proxy, server.winhttp_proxy = server.winhttp_proxy or "", None


@fault(
    "winhttp-bypass-misses-a-server",
    "the WinHTTP bypass list names every Exchange server's FQDN but one",
    "PROXY-02",
    "DRIFT-04",
)
def _bypass_misses_one(s: Scenario) -> None:
    missing = _mailbox_only(s).name
    s.server(_first_cas(s)).winhttp_bypass = [
        "<local>",
        *(x.fqdn(s.domain) for x in s.servers if x.name != missing),
    ]


# Healthy variants: what a correctly run organisation may look like and the suite must accept
# (nothing fails). tests/lab/test_fault_matrix.py also shows each one is what the checks of an
# earlier reading rejected.
@fault(
    "healthy-bypass-parent-domain", "healthy: every bypass list covers the servers with *.<parent domain>", ""
)
def _bypass_parent(s: Scenario) -> None:
    parent = s.domain.partition(".")[2] or s.domain
    for server in s.servers:
        server.winhttp_bypass = ["<local>", f"*.{parent}"]


@fault(
    "healthy-bypass-exact-fqdns",
    "healthy: every bypass list names each Exchange server's FQDN, in upper case",
    "",
)
def _bypass_exact(s: Scenario) -> None:
    for server in s.servers:
        server.winhttp_bypass = [x.fqdn(s.domain).upper() for x in s.servers]


@fault(
    "healthy-other-category-106",
    "healthy: Event 106s of another counter category, whose process list names the RPC Client Access service",
    "",
)
def _other_106(s: Scenario) -> None:
    for server in s.servers:
        server.other_event_106 = True


@fault(
    "healthy-failback-on-virtual-ip",
    "healthy: a failback name on the load balancer's virtual IP, declared in failback_addresses",
    "",
)
def _failback_vip(s: Scenario) -> None:
    server = s.server(_first_cas(s))
    s.names[server.failback_host] = "lb-mail"
    server.failback_addresses = ["lb-mail"]


@fault(
    "healthy-winhttp-stale-proxy-string",
    "healthy: no proxy declared; WinHttpSettings flags say direct access over an old stored proxy string",
    "",
)
def _stale_direct(s: Scenario) -> None:
    s.declared["winhttp_proxy"] = "none"
    for server in s.servers:
        server.winhttp_proxy, server.winhttp_stale_proxy = None, f"oldproxy.{s.domain}:3128"


@fault(
    "healthy-winhttp-proxy-undeclared",
    "healthy: every server uses a WinHTTP proxy and the inventory does not declare winhttp_proxy",
    "",
)
def _proxy_undeclared(s: Scenario) -> None:
    # the servers keep the proxy the scenario gave them; only the declaration goes
    if not any(x.winhttp_proxy for x in s.servers):
        raise LabError("healthy-winhttp-proxy-undeclared needs a scenario whose servers use a proxy")
    s.declared.pop("winhttp_proxy", None)


@fault("owa-failback-missing", "an OWA virtual directory has no FailbackUrl", "OWA-01")
def _failback_missing(s: Scenario) -> None:
    s.server(_first_cas(s)).failback_host = ""


@fault("owa-failback-same-as-external", "the FailbackUrl repeats the ExternalUrl host", "OWA-02 OWA-03")
def _failback_same(s: Scenario) -> None:
    server = s.server(_first_cas(s))
    server.failback_host = server.external_host


@fault("owa-failback-no-dns", "the failback host name has no DNS record", "OWA-03 OWA-04")
def _failback_no_dns(s: Scenario) -> None:
    s.dns_removed.add(s.server(_first_cas(s)).failback_host)


@fault("owa-failback-wrong-ip", "the failback host name points at another server", "OWA-03")
def _failback_wrong_ip(s: Scenario) -> None:
    first = s.server(_first_cas(s))
    other = next(x for x in s.servers if x.is_cas and x.name != first.name)
    s.names[first.failback_host] = other.name


@fault("owa-failback-not-in-cert", "the failback host name is missing from the certificate", "OWA-04 CERT-02")
def _failback_not_in_cert(s: Scenario) -> None:
    host = s.server(_first_cas(s)).failback_host
    s.certificate_names = [n for n in s.certificate_names if n != host]


@fault("winhttp-proxy-missing", "a proxy is declared but a server uses direct access", "PROXY-01", "DRIFT-04")
def _proxy_missing(s: Scenario) -> None:
    server = s.server(_first_cas(s))
    server.winhttp_proxy, server.winhttp_bypass = None, []


@fault("winhttp-bypass-missing", "the WinHTTP bypass list lacks the internal domain", "PROXY-02", "DRIFT-04")
def _bypass_missing(s: Scenario) -> None:
    s.server(_first_cas(s)).winhttp_bypass = ["<local>"]


@fault("cert-revocation-check-failure", "Get-ExchangeCertificate shows RevocationCheckFailure", "CERT-01")
def _revocation_check_failure(s: Scenario) -> None:
    s.server(_first_cas(s)).certificate_status = "RevocationCheckFailure"


@fault("cert-expiring-soon", "the published certificate expires in 10 days", "CERT-03")
def _expiring(s: Scenario) -> None:
    s.certificate_days_left = 10


@fault("cert-expired", "the published certificate has expired", "CERT-01 CERT-03 CONN-03", "OWA-04")
def _expired(s: Scenario) -> None:
    s.certificate_expired = True


# CERT-02 reads virtual directory URLs; the Autodiscover vdir's are empty by default (clients find
# autodiscover.<domain> through DNS and the SCP), so the client-side handshake is what shows it.
@fault("cert-missing-autodiscover-name", "the certificate lacks autodiscover.<domain>", "CONN-03")
def _missing_autodiscover(s: Scenario) -> None:
    s.certificate_names = [n for n in s.certificate_names if not n.startswith("autodiscover.")]


@fault("cert-revoked", "the published certificate was revoked by its CA", "CERT-01 CONN-04")
def _revoked(s: Scenario) -> None:
    s.certificate_revoked = True


@fault("ocsp-unreachable", "the OCSP responder refuses connections", "CONN-04")
def _ocsp_unreachable(s: Scenario) -> None:
    s.ocsp_reachable = False


@fault("cert-sha1-intermediate", "the published chain has a SHA-1 signed intermediate", "CONN-03")
def _sha1(s: Scenario) -> None:
    s.intermediate_sha1 = True


@fault(
    "autodiscover-no-dns",
    "autodiscover.<domain> has no DNS record",
    "CONN-01",
    "CONN-02 CONN-03 CONN-04 CONN-05",
)
def _autodiscover_no_dns(s: Scenario) -> None:
    s.dns_removed.add(f"autodiscover.{s.smtp_domains[0]}")


@fault("endpoint-port-closed", "the OWA host refuses TCP 443", "CONN-02", "CONN-03 CONN-04 CONN-05 OWA-04")
def _port_closed(s: Scenario) -> None:
    s.closed_443.add(s.server(_first_cas(s)).external_host)


@fault("ews-404", "EWS answers 404", "CONN-05")
def _ews_404(s: Scenario) -> None:
    s.ews_status = 404


@fault(
    "autodiscover-wrong-server",
    "Autodiscover hands out a server name the organisation does not use",
    "CONN-06",
)
def _autodiscover_wrong(s: Scenario) -> None:
    s.autodiscover_expr_server = f"legacy.{s.domain}"


@fault("smtp-no-starttls", "the SMTP host does not offer STARTTLS", "CONN-07")
def _smtp_no_tls(s: Scenario) -> None:
    s.smtp_starttls = False


@fault("hostile-strings", "markup and script in names, identities and certificate subjects", "", "")
def _hostile(s: Scenario) -> None:
    s.hostile = True


@fault("ocsp-timeout", "the OCSP responder accepts but answers only after a minute", "CONN-04")
def _ocsp_timeout(s: Scenario) -> None:
    s.ocsp_delay = 60.0


def _array_member(s: Scenario) -> str:
    """The last Client Access server of the first CAS array's site: one member made to differ."""
    site = s.arrays[0].site
    return [x.name for x in s.servers if x.is_cas and x.site == site][-1]


@fault(
    "array-third-member",
    "a third Client Access server joins the first CAS array, set up as its last member (no fault: with a "
    "drift fault after it, most members agree and the odd one is fixed by name)",
    "",
)
def _third_member(s: Scenario) -> None:
    model = s.server(_array_member(s))
    prefix, taken = model.name.rstrip("0123456789"), {x.name.lower() for x in s.servers}
    name = next(f"{prefix}{n:02d}" for n in range(1, 100) if f"{prefix}{n:02d}".lower() not in taken)
    third = replace(model, name=name, roles=list(model.roles), winhttp_bypass=list(model.winhttp_bypass))
    if model.failback_host:
        third.failback_host = f"failback-{name.lower()}.{s.domain}"
        s.names[third.failback_host] = name
        s.certificate_names.append(third.failback_host)
    s.certificate_names.append(third.fqdn(s.domain))
    s.servers.insert(s.servers.index(model) + 1, third)


@fault(
    "drift-outlook-anywhere-auth",
    "one CAS array member hands out NTLM for Outlook Anywhere, the others Basic",
    "DRIFT-01",
)
def _drift_oa_auth(s: Scenario) -> None:
    s.server(_array_member(s)).outlook_anywhere_auth = "Ntlm"


@fault(
    "drift-rpc-encryption",
    "one CAS array member requires RPC encryption, the others do not (no Outlook 2003 clients)",
    "DRIFT-02",
)
def _drift_encryption(s: Scenario) -> None:
    s.server(_array_member(s)).encryption_required = True
    s.declared["outlook2003_clients"] = "none"


@fault(
    "drift-certificate-names",
    "one CAS array member's IIS certificate has a name the others' lack",
    "DRIFT-03",
)
def _drift_certificate(s: Scenario) -> None:
    s.server(_array_member(s)).certificate_extra_names = [f"legacy.{s.domain}"]


@fault(
    "cert-staggered-renewal",
    "one CAS array member already has the renewed certificate (same names, another thumbprint): no fault",
    "",
)
def _staggered(s: Scenario) -> None:
    s.server(_array_member(s)).certificate_renewed = True


@fault(
    "drift-winhttp-bypass",
    "one CAS array member's WinHTTP bypass list has an extra entry (the internal domain still bypassed)",
    "DRIFT-04",
)
def _drift_bypass(s: Scenario) -> None:
    server = s.server(_array_member(s))
    server.winhttp_bypass = [*server.winhttp_bypass, "10.*"]


@fault(
    "drift-exchange-build", "one CAS array member still runs Exchange 2010 SP2, the others SP3", "DRIFT-05"
)
def _drift_build(s: Scenario) -> None:
    s.server(_array_member(s)).version = "Version 14.2 (Build 247.5)"


# Per-host network and collector faults: ``NAME@host`` (default host: the first Client Access
# server). Each makes every test of that host an error with a clear reason, nothing else.
HOST_FAULTS: dict[str, str] = {
    "winrm-refused": "the WinRM port refuses connections",
    "winrm-blackhole": "the WinRM port accepts connections and never answers",
    "winrm-slow": "the collector takes longer than any sensible winrm_timeout (10 minutes)",
    "winrm-http-500": "WinRM answers every request with HTTP 500",
    "winrm-wrong-credentials": "the server rejects the lab account (HTTP 401)",
    "collector-truncated": "the collector output stops before its END marker",
    "collector-garbled": "the collector output has a line that is not Key=Value",
    "collector-unknown-version": "the collector output is in an unknown format version",
    "collector-endless": "the collector streams output without end (cut off by the size limit)",
    "dns-servfail": "the server's own name answers SERVFAIL",
    "dns-timeout": "the server's own name gets no DNS answer",
    "dns-nxdomain": "the server's own name does not exist in DNS",
}


def apply_faults(scenario: Scenario, names: list[str] | tuple[str, ...]) -> None:
    for spec in names:
        name, _, host = spec.partition("@")
        if name in HOST_FAULTS:
            server = scenario.server(host) if host else scenario.server(_first_cas(scenario))
            server.network_fault = name
        elif host:
            raise LabError(
                f"lab fault {name!r} is not per host (only {', '.join(sorted(HOST_FAULTS))} take @host)"
            )
        else:
            try:
                FAULTS[name].apply(scenario)
            except KeyError:
                known = ", ".join(sorted([*FAULTS, *HOST_FAULTS]))
                raise LabError(f"unknown lab fault {name!r}; known faults: {known}") from None
        if spec not in scenario.faults:
            scenario.faults.append(spec)

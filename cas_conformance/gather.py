"""Gather every fact of a run, once: Exchange facts through one Exchange remote PowerShell session
and each server's OS facts over WinRM (all servers concurrently, bounded), then DNS, TLS,
revocation, HTTP and SMTP for every published name, each asked once.

Data flows one way: inventory -> channels -> facts (a ``World``) -> checks.
"""

from __future__ import annotations

import ssl
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from urllib3.exceptions import InsecureRequestWarning

from cas_conformance.channels import kerberos
from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.http import HttpProbe, probe
from cas_conformance.channels.revocation import check_revocation
from cas_conformance.channels.smtp import SmtpProbe, probe_smtp
from cas_conformance.channels.tls import TlsHandshake, chain_from_socket, fetch_chain, load_trust_roots
from cas_conformance.endpoints import (
    PUBLISHED_GROUP,
    STANDARD_PATHS,
    EndpointProbes,
    IdentityAdapter,
    UnverifiedAdapter,
    all_endpoints,
    failback_hosts,
    published_hosts,
    server_endpoints,
)
from cas_conformance.errors import CasConformanceWarning, CollectionError
from cas_conformance.evidence import exchange
from cas_conformance.evidence import os as os_evidence
from cas_conformance.facts import join_facts
from cas_conformance.inventory import Inventory
from cas_conformance.settings import Secret, host_settings, run_settings
from cas_conformance.world import ServerRecord, World

Progress = Callable[[str, str, str], None]


def _no_progress(event: str, subject: str, detail: str) -> None:
    return None


@dataclass(frozen=True)
class GatherOptions:
    password: Secret | None
    environ: Mapping[str, str]
    forks: int = 64
    progress: Progress = _no_progress


def winrm_hosts(inventory: Inventory) -> list[str]:
    published = (
        {h.name for h in inventory.hosts_in(PUBLISHED_GROUP)}
        if PUBLISHED_GROUP in inventory.groups
        else set()
    )
    return [name for name in inventory.hosts if name not in published]


def warn(options: GatherOptions, host: str, text: str) -> None:
    """A warning about *host*: a terminal line through the progress callback, or, without one
    (gather used as a library), a CasConformanceWarning."""
    if options.progress is _no_progress:
        warnings.warn(CasConformanceWarning(text), stacklevel=3)
    else:
        options.progress("warning", host, text)


def _handshake(name: str, dialer: Dialer, timeout: float) -> TlsHandshake:
    try:
        target = dialer.target(name, 443)
    except CollectionError as exc:
        return TlsHandshake(name, "", 443, (), None, f"not resolved: {exc.reason}")
    return fetch_chain(name, target, timeout=timeout)


def _autodiscover_request(email: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
        f"<Request><EMailAddress>{email}</EMailAddress>"
        "<AcceptableResponseSchema>"
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        "</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


def gather(inventory: Inventory, options: GatherOptions) -> World:
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    gather_started = time.monotonic()
    run = run_settings(inventory, password=options.password)
    hosts = {
        name: host_settings(inventory, inventory.hosts[name], password=options.password)
        for name in winrm_hosts(inventory)
    }
    kerberos.configure(h.kerberos for h in hosts.values() if h.transport == "kerberos")  # before threads
    for host in hosts.values():
        if host.scheme == "https" and not host.cert_validation:
            text = (
                f"{host.name}: ansible_winrm_server_cert_validation = ignore: the WinRM server's "
                "certificate is not checked, so the password may go to an impostor; prefer "
                "ansible_winrm_ca_trust_path"
            )
            warn(options, host.name, text)
    resolver = Resolver(run.dns_servers or None, timeout=run.dns_timeout)
    dialer = Dialer(resolver, run.connect_to)
    # Each name's chain comes from the first HTTPS connection its endpoint probes open anyway, so
    # a name is handshaken once; names without endpoints (failback hosts) get a handshake of their own.
    captured: dict[str, TlsHandshake] = {}

    def capture(host: str, port: int, sock: ssl.SSLSocket) -> None:
        name = host.lower()
        if port == 443 and name not in captured:
            handshake = chain_from_socket(name, sock)
            if handshake is not None:
                captured.setdefault(name, handshake)

    # Endpoint probes send no secret and judge HTTP behaviour only: each name's certificate is
    # judged once, by CONN-03, from that handshake (like the Analyzer's "ignore trust").
    session = requests.Session()
    session.trust_env = False
    forks = max(1, options.forks)
    # A pool per host, for more hosts than probe at once: each host keeps its keep-alive connection
    # for all its probes (urllib3's default of ten pools closed busy hosts' connections, and each
    # later probe handshook again), while hosts long finished give theirs up, so open sockets stay
    # bounded by the forks, not by the organisation's size.
    unverified = UnverifiedAdapter(
        Dialer(resolver, run.connect_to, on_tls=capture), pool_connections=2 * forks
    )
    session.mount("https://", unverified)
    session.mount("http://", unverified)
    session.verify = False
    # The authenticated Autodiscover probe sends the test mailbox's password: it requires a chain
    # to the trusted roots and the right name; only the dates are left to CONN-03.
    auth_session = requests.Session()
    auth_session.trust_env = False
    adapter = IdentityAdapter(dialer)
    auth_session.mount("https://", adapter)
    auth_session.mount("http://", adapter)
    auth_session.verify = run.tls_ca_bundle or True
    with ThreadPoolExecutor(max_workers=forks, thread_name_prefix="probe") as pool:
        probes = EndpointProbes(pool, session, run.http_timeout)
        plan = exchange.plan(list(hosts), hosts, forks)
        # Exchange remote PowerShell (one session) while every server's OS facts come over WinRM.
        exchange_future = pool.submit(exchange.fetch, plan, dialer) if plan is not None else None
        got: list[exchange.ExchangeEvidence] = []

        def exchange_evidence() -> exchange.ExchangeEvidence:
            if not got:
                got.append(
                    exchange_future.result()
                    if exchange_future is not None
                    else exchange.ExchangeEvidence(exchange.ExchangeOrganisationFacts())
                )
                via = got[0].organisation.via
                failed = got[0].organisation.errors
                options.progress("exchange-done", via, failed[0].message if failed and not via else "")
            return got[0]

        def joined(record: ServerRecord) -> None:
            """A server's OS facts joined with its Exchange facts; its endpoints probed at once."""
            evidence = exchange_evidence()
            assert record.facts is not None
            record.facts = join_facts(record.facts, evidence.organisation, evidence.for_server(record.host))
            probes.add(server_endpoints(record))

        records = os_evidence.fetch(
            hosts,
            run,
            resolver,
            options.forks,
            options.progress,
            on_collected=joined,
            warn=lambda host, text: warn(options, host, text),
        )
        evidence = exchange_evidence()
        world = World(inventory=inventory, run=run, servers=records, resolver=resolver)
        world.exchange = evidence.organisation
        world.exchange_servers = dict(evidence.servers)
        world.trust_roots = load_trust_roots(run.tls_ca_bundle)

        smtp_domains = list(run.smtp_domains)
        if not smtp_domains:
            smtp_domains = sorted({h.dns_domain for h in hosts.values() if h.dns_domain})
        world.endpoints = all_endpoints(world, smtp_domains)
        names = sorted({e.host for e in world.endpoints.values()} | set(published_hosts(inventory)))
        world.names = tuple(names)
        tls_names = sorted(set(names) | set(failback_hosts(world)))
        probes.add(world.endpoints.values())  # Autodiscover and published names: known only now

        # Names the checks will ask about, resolved up front (each once, cached by the resolver).
        wanted = set(tls_names)
        wanted |= {
            db.rpc_client_access_server.lower() for db in world.databases() if db.rpc_client_access_server
        }
        wanted |= {s.fqdn.lower() for s in world.org_servers() if s.fqdn}
        list(pool.map(lambda n: resolver.resolve(n, "A"), sorted(wanted)))
        mx = list(pool.map(lambda d: resolver.resolve(d, "MX"), smtp_domains))
        options.progress("dns-done", "", f"{len(wanted) + len(mx)} names")
        results = probes.results()
        world.http = {url: results[url] for url in world.endpoints}
        options.progress("http-done", "", f"{len(world.http)} endpoints on {probes.hosts} hosts")

        def handshake(name: str) -> TlsHandshake:
            return captured.get(name) or _handshake(name, dialer, run.http_timeout)

        world.tls = dict(zip(tls_names, pool.map(handshake, tls_names), strict=True))
        # Revocation is the certificate's, not the name's: one question per distinct chain (an
        # organisation's names often share one SAN certificate), its answer given to every name.
        chains = {n: tuple(h.chain_pem) for n, h in world.tls.items() if h.chain_pem}
        distinct = list(dict.fromkeys(chains.values()))
        answers = dict(
            zip(
                distinct,
                pool.map(lambda c: check_revocation(c, session, timeout=run.http_timeout), distinct),
                strict=True,
            )
        )
        world.revocation = {n: answers[c] for n, c in chains.items()}
        options.progress(
            "tls-done", "", f"{len(world.tls)} names ({len(captured)} from the probes' connections)"
        )

        def smtp_for(answer_domain: tuple[str, list[str]]) -> tuple[str, SmtpProbe | None]:
            domain, records = answer_domain
            if not records:
                return domain, None
            host = records[0].split()[-1].rstrip(".")
            return domain, probe_smtp(dialer, host, timeout=run.http_timeout)

        mx_hosts = [(a.name, sorted(a.records, key=lambda r: int(r.split()[0]))) for a in mx if a.ok]
        for domain, result in pool.map(smtp_for, mx_hosts):
            if result is not None:
                world.smtp[domain] = result
        if run.probe_credentials:
            prefix = run.probe_credentials
            user = options.environ.get(f"{prefix}_USER")
            secret = options.environ.get(f"{prefix}_PASSWORD")
            email = options.environ.get(f"{prefix}_EMAIL") or user
            world.probe_user = user
            if user and secret and email:

                def autodiscover(domain: str) -> tuple[str, HttpProbe]:
                    # Outlook's order: https://<domain>/..., then https://autodiscover.<domain>/...
                    result: HttpProbe | None = None
                    for host in (domain, f"autodiscover.{domain}"):
                        url = f"https://{host}{STANDARD_PATHS['autodiscover']}"
                        result = probe(
                            auth_session,
                            url,
                            method="POST",
                            timeout=run.http_timeout,
                            data=_autodiscover_request(email),
                            headers={"Content-Type": "text/xml"},
                            auth=requests.auth.HTTPBasicAuth(user, secret),
                        )
                        if result.error is None and result.status == 200:
                            break
                    assert result is not None
                    return domain, result

                world.autodiscover = dict(pool.map(autodiscover, smtp_domains))
        # Gathering is over: the checks read what was asked, never a live resolver.
        world.resolver = resolver.frozen()
    options.progress("gathered", "", f"{time.monotonic() - gather_started:.1f} s")
    return world

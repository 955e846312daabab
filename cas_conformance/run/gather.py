"""Gather every fact of a run, once, into a frozen Evidence: Exchange facts through one Exchange
remote PowerShell session while each server's OS facts come over WinRM (all servers concurrently,
bounded), then the network evidence the checks declare they need (``checks.base.NEEDS``), each
question asked once, every kind in the order of ``evidence.registry``, all on one bounded pool.

Data flows one way: inventory -> settings -> plan -> evidence -> checks -> reports. gather reads the
run's plan (:mod:`cas_conformance.run.plan`: every setting built and validated before any
connection) and parses nothing; it does not know which check reads what: it fetches the union of
the checks' needs.
"""

from __future__ import annotations

import ssl
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import requests
from urllib3.exceptions import InsecureRequestWarning

from cas_conformance.channels import kerberos
from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.tls import chain_from_socket
from cas_conformance.checks.base import NEEDS, SERVER_NEEDS, RunNeeds, ServerNeeds
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.domain.visible import visible
from cas_conformance.errors import CasConformanceWarning
from cas_conformance.evidence import exchange
from cas_conformance.evidence import os as os_evidence
from cas_conformance.evidence.http_probes import EndpointProbes, IdentityAdapter, UnverifiedAdapter
from cas_conformance.evidence.kind import Fetching, Progress
from cas_conformance.evidence.model import Evidence, ExchangeEvidence, Needs, ServerRecord
from cas_conformance.evidence.registry import KINDS
from cas_conformance.evidence.view import EvidenceView
from cas_conformance.run.plan import RunPlan
from cas_conformance.settings import HostSettings


def _no_progress(event: str, subject: str, detail: str) -> None:
    return None


@dataclass(frozen=True)
class GatherOptions:
    environ: Mapping[str, str]
    forks: int = 64
    progress: Progress = _no_progress
    #: what the checks declare they read (default: every registered check's declarations)
    needs: Sequence[RunNeeds] = field(default_factory=lambda: NEEDS)
    server_needs: Sequence[ServerNeeds] = field(default_factory=lambda: SERVER_NEEDS)


def warn(options: GatherOptions, host: str, text: str) -> None:
    """A warning about *host*: a terminal line through the progress callback, or, without one
    (gather used as a library), a CasConformanceWarning; either shows control characters from
    servers as escapes (the progress callback's lines do it themselves)."""
    if options.progress is _no_progress:
        warnings.warn(CasConformanceWarning(visible(text)), stacklevel=3)
    else:
        options.progress("warning", host, text)


def _sessions(
    dialer: Dialer, forks: int, captured: dict[str, TlsHandshake], tls_ca_bundle: str | None
) -> tuple[requests.Session, requests.Session]:
    """The unverified session of the behaviour probes (its connections' chains go to *captured*)
    and the identity-checked one of the authenticated Autodiscover probe."""

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
    # A pool per host, for more hosts than probe at once: each host keeps its keep-alive connection
    # for all its probes (urllib3's default of ten pools closed busy hosts' connections, and each
    # later probe handshook again), while hosts long finished give theirs up, so open sockets stay
    # bounded by the forks, not by the organisation's size.
    unverified = UnverifiedAdapter(
        Dialer(dialer.resolver, dialer.rules, on_tls=capture), pool_connections=2 * forks
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
    auth_session.verify = tls_ca_bundle or True
    return session, auth_session


def _warn_unchecked_winrm(options: GatherOptions, hosts: Mapping[str, HostSettings]) -> None:
    for host in hosts.values():
        if host.scheme == "https" and not host.cert_validation:
            text = (
                f"{host.name}: ansible_winrm_server_cert_validation = ignore: the WinRM server's "
                "certificate is not checked, so the password may go to an impostor; prefer "
                "ansible_winrm_ca_trust_path"
            )
            warn(options, host.name, text)


def gather_evidence(plan: RunPlan, options: GatherOptions) -> Evidence:
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    gather_started = time.monotonic()
    run, hosts = plan.run, plan.hosts
    _warn_unchecked_winrm(options, hosts)
    kerberos.configure(plan.krb5)  # before threads
    resolver = Resolver(run.dns_servers or None, timeout=run.dns_timeout)
    dialer = Dialer(resolver, run.connect_to)
    # Each name's chain comes from the first HTTPS connection its endpoint probes open anyway, so
    # a name is handshaken once; names without endpoints (failback hosts) get a handshake of their own.
    captured: dict[str, TlsHandshake] = {}
    forks = max(1, options.forks)
    session, auth_session = _sessions(dialer, forks, captured, run.tls_ca_bundle)
    with ThreadPoolExecutor(max_workers=forks, thread_name_prefix="probe") as pool:
        probes = EndpointProbes(pool, session, run.http_timeout)
        session_plan = exchange.plan(list(hosts), hosts, forks)
        # Exchange remote PowerShell (one session) while every server's OS facts come over WinRM.
        exchange_future = (
            pool.submit(exchange.fetch, session_plan, dialer) if session_plan is not None else None
        )
        got: list[ExchangeEvidence] = []
        early: list[Needs] = []

        def exchange_evidence() -> ExchangeEvidence:
            if not got:
                got.append(exchange_future.result() if exchange_future is not None else ExchangeEvidence())
                via = got[0].organisation.via
                failed = got[0].organisation.errors
                options.progress("exchange-done", via, failed[0].message if failed and not via else "")
            return got[0]

        def joined(record: ServerRecord) -> ServerRecord:
            """A server's OS facts joined with its Exchange facts; its endpoints probed at once."""
            record = os_evidence.joined(record, exchange_evidence())
            declared = Needs.union(declare(record) for declare in options.server_needs)
            early.append(declared)
            probes.add(declared.probe)
            return record

        records = os_evidence.fetch(
            hosts,
            run,
            resolver,
            options.forks,
            options.progress,
            on_collected=joined,
            warn=lambda host, text: warn(options, host, text),
        )
        facts = Evidence(plan.inventory, run, exchange=exchange_evidence(), os=records)
        # What the checks will read of the network, from the Exchange and OS facts.
        before_network = EvidenceView(facts)
        needs = Needs.union([*early, *(declare(before_network) for declare in options.needs)])
        probes.add(needs.probe)  # the endpoints no server's facts started, before any kind waits
        ctx = Fetching(
            run,
            pool,
            resolver,
            dialer,
            session,
            auth_session,
            probes,
            captured,
            options.environ,
            options.progress,
        )
        for kind in KINDS:
            if kind.fetch is not None:
                ctx.parts[kind.name] = kind.fetch(ctx, needs)
        for kind in KINDS:
            if kind.finish is not None:
                ctx.parts[kind.name] = kind.finish(ctx.parts[kind.name], ctx)
    options.progress("gathered", "", f"{time.monotonic() - gather_started:.1f} s")
    return replace(facts, **ctx.parts)


def gather(plan: RunPlan, options: GatherOptions) -> EvidenceView:
    """The EvidenceView the checks read, from evidence gathered once (see :func:`gather_evidence`)."""
    return EvidenceView(gather_evidence(plan, options))

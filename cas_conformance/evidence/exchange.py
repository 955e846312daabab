"""Exchange facts through Exchange remote PowerShell: planned, fetched, saved and loaded here.

One session per run, to the first Client Access server of the plan that opens one (the next on
failure). Organisation-wide cmdlets are asked once; per-server cmdlets once per inventory server
with ``-Server``, pipelined through the session's runspace pool (at most ``--forks`` at a time).
What is asked and what the answers become is :mod:`~cas_conformance.evidence.exchange_answers`. No
script, no snap-in: cmdlets only, run by Exchange itself with the account's RBAC roles (the
supported way; loading the snap-in bypasses RBAC:
https://blog.rmilne.ca/2015/01/28/directly-loading-exchange-2010-or-2013-snapin-is-not-supported/).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.psrp import CHANNEL, Cmdlet, CmdletOutcome, ExchangeSession, PsrpTarget
from cas_conformance.domain.facts import EXCHANGE_ORG_SECTIONS, ExchangeServerFacts, SectionError
from cas_conformance.domain.facts import (
    ExchangeOrganisationFacts as ExchangeOrganisationFacts,
)
from cas_conformance.errors import CollectionError
from cas_conformance.evidence import codec, exchange_answers
from cas_conformance.evidence.kind import Kind, Loading
from cas_conformance.evidence.model import ExchangeEvidence as ExchangeEvidence
from cas_conformance.evidence.model import frozen_map
from cas_conformance.settings import HostSettings

SCHEMA = "exchange/1"


@dataclass(frozen=True)
class ExchangePlan:
    """Where to open the session (in order) and how, and which servers to ask about."""

    hosts: tuple[str, ...]
    #: each session host's inventory settings (account, trust, time limits); others use the first's
    settings: Mapping[str, HostSettings]
    default: HostSettings
    servers: tuple[str, ...]
    forks: int = 8


def plan(run_hosts: Sequence[str], hosts: Mapping[str, HostSettings], forks: int) -> ExchangePlan | None:
    """The session's Client Access servers (``exchange_powershell_hosts``, else the inventory's
    hosts in order), each reached with its own inventory line's account and trust (a host outside
    the inventory with the first host's), and every inventory server to ask about; None without
    servers."""
    if not hosts:
        return None
    first = next(iter(hosts.values()))
    order = tuple(first.exchange_powershell_hosts) or tuple(run_hosts)
    return ExchangePlan(
        hosts=order,
        settings=dict(hosts),
        default=first,
        servers=tuple(hosts),
        forks=max(1, forks),
    )


def psrp_target(
    settings: HostSettings, host: str, *, auth: str = "basic", scheme: str = "https"
) -> PsrpTarget:
    """*host*'s ``/PowerShell`` with the account, trust and time limits of *settings* (the
    inventory's WinRM variables; the whole exchange stays inside ``winrm_timeout``).

    Kerberos with ``ansible_winrm_kinit_mode = manual`` uses the ticket of the user's own
    ``kinit`` (their default credential cache, ``KRB5CCNAME``): no password is needed or used.
    Basic over plain HTTP is refused by the target itself."""
    manual = auth == "kerberos" and settings.kerberos.kinit_mode == "manual"
    if settings.password is None and not manual:
        raise CollectionError(host, CHANNEL, "no password: set CAS_CONFORMANCE_PASSWORD or use --ask-pass")
    if not settings.user and not manual:
        raise CollectionError(host, CHANNEL, "no user name: set ansible_user in the inventory")
    operation = max(1, min(20, int(settings.winrm_timeout // 2)))
    return PsrpTarget(
        host,
        settings.user or None,
        None if manual else settings.password,
        scheme=scheme,
        auth=auth,
        cert_validation=settings.cert_validation,
        ca_trust_path=settings.ca_trust_path or settings.tls_ca_bundle,
        connect_timeout=min(15.0, settings.winrm_timeout),
        operation_timeout=operation,
        read_timeout=float(operation + 10),
    )


# --- fetch -------------------------------------------------------------------------------------


def fetch(
    plan: ExchangePlan,
    dialer: Dialer,
    *,
    opener: Callable[[PsrpTarget, Dialer], ExchangeSession] = ExchangeSession,
) -> ExchangeEvidence:
    """Open one session (the first host of the plan that answers) and read everything through it."""
    attempts: list[str] = []
    for host in plan.hosts:
        try:
            settings = plan.settings.get(host, plan.default)
            target = psrp_target(
                settings,
                host,
                auth=settings.exchange_powershell_auth,
                scheme=settings.exchange_powershell_scheme,
            )
            target = replace(
                target, max_concurrency=max(1, plan.forks), port=settings.exchange_powershell_port
            )
            with opener(target, dialer) as session:
                return _read(session, host, plan, tuple(attempts))
        except CollectionError as exc:
            attempts.append(f"{host}: {exc.reason}")
        except Exception as exc:  # a crash while reading through one session fails that attempt, never passes
            attempts.append(f"{host}: {exc.__class__.__name__}: {exc}")
    reason = "no Exchange remote PowerShell session: " + (
        "; ".join(attempts) or "no Client Access server to ask"
    )
    return _unreachable(reason, tuple(attempts))


def _unreachable(reason: str, attempts: tuple[str, ...]) -> ExchangeEvidence:
    organisation = ExchangeOrganisationFacts(
        errors=tuple(SectionError(s, reason) for s in EXCHANGE_ORG_SECTIONS), attempts=attempts
    )
    return ExchangeEvidence(organisation, frozen_map())


def _read(
    session: ExchangeSession, via: str, plan: ExchangePlan, attempts: tuple[str, ...]
) -> ExchangeEvidence:
    outcomes = session.run_all([Cmdlet(name) for _, name in exchange_answers.ORG_CMDLETS])
    organisation = exchange_answers.organisation(via, outcomes, attempts)
    asked: list[tuple[str, str, Cmdlet]] = []  # (inventory host, section, cmdlet)
    for host in plan.servers:
        for section, cmdlet in exchange_answers.per_server(organisation, host):
            asked.append((host, section, cmdlet))
    answers = session.run_all([c for _, _, c in asked])
    by_host: dict[str, list[tuple[str, CmdletOutcome]]] = {h: [] for h in plan.servers}
    for (host, section, _), outcome in zip(asked, answers, strict=True):
        by_host[host].append((section, outcome))
    return ExchangeEvidence(
        organisation,
        frozen_map((h, exchange_answers.server_facts(via, h, got)) for h, got in by_host.items()),
    )


# --- save and load -------------------------------------------------------------------------------


def save(evidence: ExchangeEvidence) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "organisation": codec.dump(evidence.organisation),
        "servers": {h: codec.dump(f) for h, f in evidence.servers.items()},
    }


def load(data: Mapping[str, Any], loading: Loading | None = None) -> ExchangeEvidence:
    if data.get("schema") != SCHEMA:
        raise ValueError(f"Exchange evidence of schema {data.get('schema')!r} (this suite reads {SCHEMA})")
    return ExchangeEvidence(
        codec.load(ExchangeOrganisationFacts, data["organisation"]),
        frozen_map((h, codec.load(ExchangeServerFacts, f)) for h, f in data["servers"].items()),
    )


#: fetched by gather first (one session, while the OS collector runs)
KIND = Kind("exchange", save, load)

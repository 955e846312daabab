"""OS facts over WinRM: planned, fetched, saved and loaded here.

One OS collector command per server (cas_conformance/collector: one ``-EncodedCommand``, no
stdin), every server concurrently, at most ``--forks`` at a time; each record keeps the raw output
(saved in the facts file and parsed again on load) or the reason there is none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from typing import Any

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.kerberos import Krb5Config
from cas_conformance.channels.winrm import WinrmKerberos, WinrmTarget, run_collector
from cas_conformance.collector.parse import parse_collector_output
from cas_conformance.collector.script import CollectorParameters, collector_command
from cas_conformance.domain.facts import ServerFacts, join_facts
from cas_conformance.errors import CollectionError, CollectorFormatError
from cas_conformance.evidence.kind import Kind, Loading
from cas_conformance.evidence.model import ExchangeEvidence, ServerRecord, frozen_map
from cas_conformance.settings import HostSettings, RunSettings, host_settings
from cas_conformance.settings.kerberos import KerberosSettings


def krb5_config(kerberos: KerberosSettings) -> Krb5Config:
    """What MIT Kerberos reads for a host of these Kerberos settings."""
    return Krb5Config(config=kerberos.config, realm=kerberos.realm, kdcs=kerberos.kdcs)


def winrm_target(settings: HostSettings) -> WinrmTarget:
    """The WinRM endpoint of a host, and how to log on to it, from its settings."""
    return WinrmTarget(
        name=settings.name,
        address=settings.address,
        port=settings.port,
        scheme=settings.scheme,
        transport=settings.transport,
        user=settings.user,
        password=settings.password,
        cert_validation=settings.cert_validation,
        ca_trust_path=settings.ca_trust_path,
        timeout=settings.winrm_timeout,
        kerberos=WinrmKerberos(
            krb5=krb5_config(settings.kerberos),
            manual=settings.kerberos.kinit_mode == "manual",
            delegation=settings.kerberos.delegation,
            hostname_override=settings.kerberos.hostname_override,
            service=settings.kerberos.service,
        ),
    )


def parse(raw_output: str, host: str) -> ServerFacts:
    """A saved collector output read again (CollectorFormatError when it is not format 3)."""
    return parse_collector_output(raw_output, host)


def joined(record: ServerRecord, exchange: ExchangeEvidence) -> ServerRecord:
    """*record* with its OS facts joined to the organisation's and its own Exchange facts."""
    if record.facts is None:
        return record
    facts = join_facts(record.facts, exchange.organisation, exchange.for_server(record.host))
    return replace(record, facts=facts)


def save(part: Mapping[str, ServerRecord]) -> dict[str, Any]:
    """Each server's raw collector output (parsed again on load, so a suite upgrade re-reads the
    evidence) or why there is none."""
    return {
        name: {
            "raw_output": rec.raw_output,
            "error": None
            if rec.error is None
            else {"channel": rec.error.channel, "reason": rec.error.reason},
            "seconds": round(rec.seconds, 3),
        }
        for name, rec in part.items()
    }


def load(data: Any, loading: Loading) -> Mapping[str, ServerRecord]:
    exchange: ExchangeEvidence = loading.parts["exchange"]
    inventory = loading.inventory
    servers: dict[str, ServerRecord] = {}
    for name, entry in data.items():
        rec = ServerRecord(
            name,
            host_settings(inventory, inventory.hosts[name], password=None),
            seconds=float(entry.get("seconds", 0.0)),
        )
        if entry.get("error"):
            rec = replace(
                rec, error=CollectionError(name, entry["error"]["channel"], entry["error"]["reason"])
            )
        elif entry.get("raw_output") is not None:
            rec = replace(rec, raw_output=entry["raw_output"])
            try:
                rec = joined(replace(rec, facts=parse(entry["raw_output"], name)), exchange)
            except CollectorFormatError as exc:
                rec = replace(rec, error=CollectionError(name, "collector output", str(exc)))
        servers[name] = rec
    return frozen_map(servers)


#: fetched by gather before the network kinds (the checks' needs are read from these facts)
KIND = Kind("os", save, load)


def _clixml_text(stderr: str) -> str:
    """PowerShell errors arrive as CLIXML; keep the text of its <S> elements."""
    if "#< CLIXML" not in stderr:
        return stderr.strip()
    parts = re.findall(r"<S S=\"Error\">(.*?)</S>", stderr, flags=re.S)
    text = "".join(parts).replace("_x000D__x000A_", "\n")
    return text.strip() or stderr.strip()


def collect_server(
    settings: HostSettings,
    dialer: Dialer,
    command: tuple[str, tuple[str, ...]],
    warn: Callable[[str, str], None] | None = None,
) -> tuple[str, ServerFacts]:
    """Run the OS collector and parse it; raise CollectionError with a clear reason otherwise.
    *warn* (host, text) gets a warning such as a server speaking TLS 1.0/1.1 only."""
    target = winrm_target(settings)
    if warn is None:
        output = run_collector(target, dialer, command)
    else:
        output = run_collector(target, dialer, command, warn=lambda text: warn(settings.name, text))
    if output.exit_code != 0:
        reason = _clixml_text(output.stderr) or "no error text"
        raise CollectionError(settings.name, "collector", f"exit code {output.exit_code}: {reason}")
    if not output.stdout.strip():
        raise CollectionError(settings.name, "collector", "no output (and the collector always prints)")
    try:
        facts = parse_collector_output(output.stdout, settings.name)
    except CollectorFormatError as exc:
        raise CollectionError(settings.name, "collector output", str(exc)) from None
    return output.stdout, facts


def fetch(
    settings: Mapping[str, HostSettings],
    run: RunSettings,
    resolver: Resolver,
    forks: int,
    progress: Callable[[str, str, str], None],
    on_collected: Callable[[ServerRecord], ServerRecord] = lambda record: record,
    warn: Callable[[str, str], None] | None = None,
) -> Mapping[str, ServerRecord]:
    """Collect every server; *on_collected* gets each record that has facts, as it arrives, and
    answers the record to keep (its facts joined with the Exchange facts); *warn* (host, text)
    gets each warning about a server."""
    records = {name: ServerRecord(name, s) for name, s in settings.items()}
    if not records:
        return frozen_map(records)
    params = CollectorParameters(
        event_lookback_days=run.eventlog_lookback_days,
        polling_registry_key=run.polling_registry_key,
    )
    try:
        command = collector_command(params)
    except ValueError as exc:  # parameters too long for one command line: every server says so
        return frozen_map(
            (name, replace(rec, error=CollectionError(name, "collector", str(exc))))
            for name, rec in records.items()
        )
    started: dict[str, float] = {}

    def one(name: str) -> tuple[str, ServerFacts]:
        host = settings[name]
        started[name] = time.monotonic()
        progress("collect-start", name, "")
        return collect_server(host, Dialer(resolver, host.connect_to), command, warn)

    pool = ThreadPoolExecutor(max_workers=max(1, min(forks, len(records))), thread_name_prefix="collect")
    futures = {pool.submit(one, name): name for name in records}
    # A safety net over each collection's own deadline: queued servers wait for a free fork.
    deadline = max(s.winrm_timeout for s in settings.values()) + 5
    end = time.monotonic() + deadline * (1 + len(records) // max(1, forks))
    done_count = 0

    def finish(name: str, outcome: Callable[[], tuple[str, ServerFacts]]) -> None:
        nonlocal done_count
        record = records[name]
        try:
            raw, facts = outcome()
            record = replace(record, raw_output=raw, facts=facts)
        except CollectionError as exc:
            record = replace(record, error=exc)
        except Exception as exc:  # a crash in collection is an error on that host, never a pass
            record = replace(record, error=CollectionError(name, "winrm", f"{exc.__class__.__name__}: {exc}"))
        record = replace(record, seconds=time.monotonic() - started.get(name, time.monotonic()))
        if record.facts is not None:
            record = on_collected(record)
        records[name] = record
        done_count += 1
        status = "ok" if record.facts is not None else f"error: {record.error.reason if record.error else ''}"
        progress("collect-done", name, f"{done_count}/{len(records)} {record.seconds:.1f}s {status}")

    try:
        for future in as_completed(futures, timeout=max(0.1, end - time.monotonic())):
            finish(futures[future], future.result)
    except TimeoutError:
        for future, name in futures.items():
            if not future.done():
                timeout = settings[name].winrm_timeout

                def late(timeout: float = timeout, name: str = name) -> tuple[str, ServerFacts]:
                    raise CollectionError(name, "winrm", f"timed out after {timeout:g} s (winrm_timeout)")

                finish(name, late)
    pool.shutdown(wait=False, cancel_futures=True)
    return frozen_map(records)

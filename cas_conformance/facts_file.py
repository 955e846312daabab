"""Save every gathered fact of a run and load it back: audit evidence, offline re-evaluation, and
how xdist workers share the controller's one collection.

The file holds the effective inventory (without any password), each server's raw collector
output (parsed again on load, so a suite upgrade re-reads the evidence), every DNS answer, TLS
chain, revocation answer and HTTP/SMTP probe, and the trust roots the run used.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from cas_conformance.channels.dns import DnsAnswer, Resolver
from cas_conformance.channels.http import HttpProbe
from cas_conformance.channels.revocation import RevocationResult
from cas_conformance.channels.smtp import SmtpProbe
from cas_conformance.channels.tls import TlsHandshake
from cas_conformance.errors import CasConformanceError, CollectionError, CollectorFormatError
from cas_conformance.evidence import exchange
from cas_conformance.evidence import os as os_evidence
from cas_conformance.facts import join_facts
from cas_conformance.inventory import parse_inventory
from cas_conformance.inventory_text import render_inventory
from cas_conformance.settings import Secret, host_settings, run_settings
from cas_conformance.world import Endpoint, ServerRecord, World

SCHEMA = "cas-conformance/facts/2"
#: files this version cannot read, and why (each refused with that reason)
OLD_SCHEMAS = {
    "cas-conformance/facts/1": "it was written by a suite that read Exchange through the snap-in collector; "
    "gather the facts again with this version",
}
LOCAL_FILE_VARS = frozenset(
    {"tls_ca_bundle", "ansible_winrm_ca_trust_path", "lab_scenario", "kerberos_config"}
)


class FactsFileError(CasConformanceError):
    """A facts file that cannot be read back."""


def world_to_dict(world: World) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "now": world.now.isoformat(),
        # Files of the gathering run (trust bundles) need not exist on replay: the roots are saved.
        "inventory": render_inventory(world.inventory, omit=LOCAL_FILE_VARS),
        "inventory_path": world.inventory.path,
        "servers": {
            name: {
                "raw_output": rec.raw_output,
                "error": None
                if rec.error is None
                else {"channel": rec.error.channel, "reason": rec.error.reason},
                "seconds": round(rec.seconds, 3),
            }
            for name, rec in world.servers.items()
        },
        "names": list(world.names),
        "endpoints": [
            {"url": e.url, "kind": e.kind, "auth": list(e.auth), "source": e.source, "server": e.server}
            for e in world.endpoints.values()
        ],
        "dns": [a.to_dict() for a in world.resolver.answers()],
        "tls": {k: v.to_dict() for k, v in world.tls.items()},
        "revocation": {k: v.to_dict() for k, v in world.revocation.items()},
        "http": {k: v.to_dict() for k, v in world.http.items()},
        "smtp": {k: v.to_dict() for k, v in world.smtp.items()},
        "autodiscover": {k: v.to_dict() for k, v in world.autodiscover.items()},
        "probe_user": world.probe_user,
        "exchange": exchange.save(
            exchange.ExchangeEvidence(world.exchange, world.exchange_servers)
        ),
        "trust_roots": [c.public_bytes(Encoding.PEM).decode() for c in world.trust_roots],
    }


def save_world(world: World, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(world_to_dict(world), indent=1, sort_keys=True), encoding="utf-8")


def world_from_dict(data: dict[str, Any], *, password: Secret | None = None) -> World:
    if data.get("schema") in OLD_SCHEMAS:
        raise FactsFileError(
            f"facts schema {data['schema']} is an old format this suite no longer reads ({SCHEMA}): "
            f"{OLD_SCHEMAS[data['schema']]}"
        )
    if data.get("schema") != SCHEMA:
        raise FactsFileError(f"unknown facts schema {data.get('schema')!r} (this suite reads {SCHEMA})")
    evidence = exchange.load(data["exchange"])
    inventory = parse_inventory(data["inventory"], data.get("inventory_path", "<facts file>"))
    run = run_settings(inventory, password=password)
    resolver = Resolver.preload([DnsAnswer.from_dict(a) for a in data["dns"]])
    servers: dict[str, ServerRecord] = {}
    for name, entry in data["servers"].items():
        rec = ServerRecord(name, host_settings(inventory, inventory.hosts[name], password=password))
        rec.seconds = float(entry.get("seconds", 0.0))
        if entry.get("error"):
            rec.error = CollectionError(name, entry["error"]["channel"], entry["error"]["reason"])
        elif entry.get("raw_output") is not None:
            rec.raw_output = entry["raw_output"]
            try:
                os_facts = os_evidence.load(entry["raw_output"], name)
                rec.facts = join_facts(os_facts, evidence.organisation, evidence.for_server(name))
            except CollectorFormatError as exc:
                rec.error = CollectionError(name, "collector output", str(exc))
        servers[name] = rec
    world = World(inventory=inventory, run=run, servers=servers, resolver=resolver)
    world.now = datetime.fromisoformat(data["now"])
    world.names = tuple(data["names"])
    world.endpoints = {
        e["url"]: Endpoint(e["url"], e["kind"], tuple(e["auth"]), e["source"], e.get("server", ""))
        for e in data["endpoints"]
    }
    world.tls = {k: TlsHandshake.from_dict(v) for k, v in data["tls"].items()}
    world.revocation = {k: RevocationResult.from_dict(v) for k, v in data["revocation"].items()}
    world.http = {k: HttpProbe.from_dict(v) for k, v in data["http"].items()}
    world.smtp = {k: SmtpProbe.from_dict(v) for k, v in data["smtp"].items()}
    world.autodiscover = {k: HttpProbe.from_dict(v) for k, v in data["autodiscover"].items()}
    world.probe_user = data.get("probe_user")
    world.exchange = evidence.organisation
    world.exchange_servers = dict(evidence.servers)
    world.trust_roots = [x509.load_pem_x509_certificate(p.encode()) for p in data["trust_roots"]]
    return world


def load_world(path: str | Path, *, password: Secret | None = None) -> World:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FactsFileError(f"{path}: cannot read facts: {exc}") from None
    if not isinstance(data, dict):
        raise FactsFileError(f"{path}: not a facts file (a JSON object is expected)")
    try:
        return world_from_dict(data, password=password)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FactsFileError(f"{path}: malformed facts file: {exc!r}") from None
    except CasConformanceError as exc:
        raise FactsFileError(f"{path}: malformed facts file: {exc}") from None

"""The URLs the servers' facts and the inventory publish (pure functions of the facts: the
connectivity checks declare them as their needs, and enumerate them as their subjects)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cas_conformance.domain.facts import VdirKind
from cas_conformance.evidence.model import STANDARD_PATHS, Endpoint, ServerRecord, frozen_map, host_of
from cas_conformance.inventory import Inventory

PUBLISHED_GROUP = "published"
_PROBED_VDIRS = {
    VdirKind.OWA: "owa",
    VdirKind.EWS: "ews",
    VdirKind.ACTIVESYNC: "activesync",
    VdirKind.OAB: "oab",
}


def published_members(inventory: Inventory) -> list[str]:
    """The inventory's ``[published]`` hosts, named as the inventory names them: probed from outside
    only, never reached over WinRM."""
    if PUBLISHED_GROUP not in inventory.groups:
        return []
    return [h.name for h in inventory.hosts_in(PUBLISHED_GROUP)]


def published_hosts(inventory: Inventory) -> list[str]:
    """The published host names as DNS names (lower case)."""
    return [name.lower() for name in published_members(inventory)]


def server_endpoints(record: ServerRecord) -> list[Endpoint]:
    """The URLs one collected server's virtual directories and Outlook Anywhere publish (a URL
    without a host names nothing to probe and is left out)."""
    found: list[Endpoint] = []
    if record.facts is None:
        return found
    for vdir in record.facts.vdirs:
        kind = _PROBED_VDIRS.get(vdir.kind)
        if kind is None:
            continue
        if vdir.external_url:
            found.append(Endpoint(vdir.external_url, kind, vdir.external_auth, vdir.identity, record.host))
        if vdir.internal_url:
            found.append(Endpoint(vdir.internal_url, kind, vdir.internal_auth, vdir.identity, record.host))
    for oa in record.facts.outlook_anywhere:
        if oa.external_hostname:
            url = f"https://{oa.external_hostname.lower()}{STANDARD_PATHS['rpc']}"
            found.append(Endpoint(url, "rpc", oa.iis_authentication_methods, oa.identity, record.host))
    return [endpoint for endpoint in found if endpoint.host]


def all_endpoints(
    servers: Iterable[ServerRecord], inventory: Inventory, smtp_domains: Iterable[str]
) -> Mapping[str, Endpoint]:
    """Every URL the connectivity checks probe: the servers', Autodiscover for each SMTP domain,
    and the standard paths of published names no server's facts mention."""
    endpoints: dict[str, Endpoint] = {}

    def add(endpoint: Endpoint) -> None:
        if endpoint.url not in endpoints:
            endpoints[endpoint.url] = endpoint

    for record in servers:
        for endpoint in server_endpoints(record):
            add(endpoint)
    for domain in smtp_domains:
        add(Endpoint(f"https://autodiscover.{domain}{STANDARD_PATHS['autodiscover']}", "autodiscover"))
    known_hosts = {e.host for e in endpoints.values()}
    for name in published_hosts(inventory):
        if name in known_hosts:
            continue
        for kind, path in STANDARD_PATHS.items():
            add(Endpoint(f"https://{name}{path}", kind))
    return frozen_map(endpoints)


def failback_hosts(servers: Iterable[ServerRecord]) -> list[str]:
    """The hosts of the OWA virtual directories' FailbackUrl."""
    hosts = []
    for record in servers:
        if record.facts is None:
            continue
        for vdir in record.facts.vdirs:
            if vdir.kind is VdirKind.OWA and vdir.failback_url:
                hosts.append(host_of(vdir.failback_url))
    return sorted({h for h in hosts if h})

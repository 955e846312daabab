"""What every kind of evidence offers the registry, and the two contexts it works in: ``Fetching``
(the live side of one gathering, shared by the network modules) and ``Loading`` (a facts file)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import requests

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.domain.records.tls import TlsHandshake
from cas_conformance.evidence.http_probes import EndpointProbes
from cas_conformance.evidence.model import Needs
from cas_conformance.inventory import Inventory
from cas_conformance.settings import RunSettings

T = TypeVar("T")
Progress = Callable[[str, str, str], None]


@dataclass
class Fetching:
    """One gathering's connections and pool, for the network modules' ``fetch`` (in registry
    order: ``parts`` holds what the modules before have fetched)."""

    run: RunSettings
    pool: ThreadPoolExecutor
    resolver: Resolver
    dialer: Dialer
    #: unverified HTTPS for behaviour probes (no secret is sent); its connections give ``captured``
    session: requests.Session
    #: identity-checked HTTPS, for the one probe that sends a password
    auth_session: requests.Session
    probes: EndpointProbes
    #: each name's TLS chain from the first HTTPS connection the probes opened to it
    captured: Mapping[str, TlsHandshake]
    environ: Mapping[str, str]
    progress: Progress
    parts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Loading:
    """A facts file being read: its inventory (no password: a replay connects to nothing), and the
    parts loaded before (registry order)."""

    inventory: Inventory
    parts: Mapping[str, Any]


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One kind of evidence: the Evidence field and facts-file key ``name``, how its part is saved
    and loaded, and (network kinds) how it is fetched for the checks' needs. ``finish`` runs once
    every kind is fetched (for what the later ones added, e.g. the dialer's own DNS questions)."""

    name: str
    save: Callable[[T], Any]
    load: Callable[[Any, Loading], T]
    fetch: Callable[[Fetching, Needs], T] | None = None
    finish: Callable[[T, Fetching], T] | None = None

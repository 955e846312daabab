"""Each kind of evidence saves its part and loads it back unchanged (JSON in between, as in the
facts file), and the registry lists every evidence module that offers a kind."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cas_conformance.channels.http import HttpProbe
from cas_conformance.channels.revocation import RevocationResult
from cas_conformance.channels.smtp import SmtpProbe
from cas_conformance.domain.facts import (
    ExchangeOrganisationFacts,
    ExchangeServer,
    ExchangeServerFacts,
    RpcClientAccess,
    SectionError,
)
from cas_conformance.domain.records.dns import DnsAnswer
from cas_conformance.errors import CollectionError
from cas_conformance.evidence import dns, exchange, http, os, revocation, smtp, tls
from cas_conformance.evidence.kind import Kind, Loading
from cas_conformance.evidence.model import (
    DnsEvidence,
    Evidence,
    ExchangeEvidence,
    HttpEvidence,
    ServerRecord,
    TlsEvidence,
    frozen_map,
    question,
)
from cas_conformance.evidence.registry import KINDS
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab import Pki
from cas_conformance.run.facts_file import evidence_from_dict, evidence_to_dict
from cas_conformance.settings import host_settings, run_settings
from tests.checks.world_builder import NOW, handshake, leaf

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "samples"
INVENTORY = parse_inventory("ex01.contoso.lab\ncas09.contoso.lab\n", "unit.ini")
EXCHANGE = ExchangeEvidence(
    ExchangeOrganisationFacts(
        via="ex01.contoso.lab",
        servers=(
            ExchangeServer(
                "EX01",
                "ex01.contoso.lab",
                "HQ",
                ("Mailbox", "ClientAccess"),
                True,
                True,
                "Version 14.3 (Build 123.4)",
            ),
        ),
        errors=(SectionError("array", "denied"),),
    ),
    frozen_map({"ex01.contoso.lab": ExchangeServerFacts(RpcClientAccess("EX01", True))}),
)


def _round_trip(kind: Kind[Any], part: Any, parts: dict[str, Any] | None = None) -> Any:
    saved = json.loads(json.dumps(kind.save(part)))
    return kind.load(saved, Loading(INVENTORY, parts or {}))


def test_exchange_round_trip() -> None:
    assert _round_trip(exchange.KIND, EXCHANGE) == EXCHANGE


def test_os_round_trip_parses_the_raw_output_again_and_joins_the_exchange_facts() -> None:
    raw = (SAMPLES / "ex01-multirole.txt").read_text(encoding="ascii")
    settings = {h: host_settings(INVENTORY, INVENTORY.hosts[h], password=None) for h in INVENTORY.hosts}
    collected = ServerRecord(
        "ex01.contoso.lab",
        settings["ex01.contoso.lab"],
        facts=os.parse(raw, "ex01.contoso.lab"),
        raw_output=raw,
        seconds=1.25,
    )
    failed = ServerRecord(
        "cas09.contoso.lab",
        settings["cas09.contoso.lab"],
        error=CollectionError("cas09.contoso.lab", "winrm", "refused"),
    )
    part = frozen_map({r.host: r for r in (os.joined(collected, EXCHANGE), failed)})
    loaded = _round_trip(os.KIND, part, {"exchange": EXCHANGE})
    assert loaded["ex01.contoso.lab"] == part["ex01.contoso.lab"]
    error = loaded["cas09.contoso.lab"].error  # an exception: equal by its fields, not identity
    assert error is not None and (error.server, error.channel, error.reason) == (
        "cas09.contoso.lab",
        "winrm",
        "refused",
    )
    assert replace(loaded["cas09.contoso.lab"], error=None) == replace(failed, error=None)
    facts = loaded["ex01.contoso.lab"].facts
    assert facts.rpc_client_access == RpcClientAccess("EX01", True)  # joined from the Exchange part


def test_dns_round_trip_keeps_answers_and_declared_questions() -> None:
    answers = (
        DnsAnswer("mail.contoso.lab", "A", "NOERROR", ("10.0.0.5",), ("web.contoso.lab",), "10.0.0.1:53"),
        DnsAnswer("contoso.lab", "MX", "NOERROR", ("10 mx.contoso.lab",), resolver="10.0.0.1:53"),
        DnsAnswer(
            "ghost.contoso.lab", "A", "NXDOMAIN", resolver="10.0.0.1:53", detail="NXDOMAIN from 10.0.0.1:53"
        ),
    )
    part = DnsEvidence(
        frozen_map((question(a.name, a.rdtype), a) for a in answers),
        frozenset({question("mail.contoso.lab", "A")}),
    )
    loaded = _round_trip(dns.KIND, part)
    assert dict(loaded.answers) == dict(part.answers) and loaded.declared == part.declared


def test_tls_round_trip_keeps_chains_errors_and_trust_roots() -> None:
    pki = Pki.generate(
        "Contoso", ocsp_url="http://pki.contoso.lab/ocsp", crl_base_url="http://pki.contoso.lab/crl"
    )
    part = TlsEvidence(
        frozen_map(
            {
                "mail.contoso.lab": handshake("mail.contoso.lab", leaf(pki, "mail.contoso.lab")),
                "old.contoso.lab": handshake("old.contoso.lab", error="connection refused"),
            }
        ),
        (pki.root,),
    )
    loaded = _round_trip(tls.KIND, part)
    assert dict(loaded.handshakes) == dict(part.handshakes) and loaded.trust_roots == part.trust_roots


def test_revocation_round_trip() -> None:
    part = frozen_map(
        {"mail.contoso.lab": RevocationResult("ocsp", "good", "http://pki.contoso.lab/ocsp", "")}
    )
    assert dict(_round_trip(revocation.KIND, part)) == dict(part)


def test_http_round_trip_keeps_probes_autodiscover_and_the_probe_user() -> None:
    url = "https://mail.contoso.lab/owa"
    part = HttpEvidence(
        frozen_map(
            {
                url: HttpProbe(
                    url, "GET", 200, f"{url}/auth/logon.aspx", redirects=((302, f"{url}/auth/logon.aspx"),)
                )
            }
        ),
        frozen_map({"contoso.lab": HttpProbe(url, "POST", 401, url, www_authenticate=("Basic",))}),
        "probe@contoso.lab",
        "test.mailbox@contoso.lab",
    )
    loaded = _round_trip(http.KIND, part)
    assert (dict(loaded.probes), dict(loaded.autodiscover), loaded.probe_user, loaded.probe_email) == (
        dict(part.probes),
        dict(part.autodiscover),
        part.probe_user,
        part.probe_email,
    )


def test_smtp_round_trip() -> None:
    part = frozen_map(
        {"contoso.lab": SmtpProbe("mx.contoso.lab", 25, 220, "mx ESMTP", ("STARTTLS",), True, True)}
    )
    assert dict(_round_trip(smtp.KIND, part)) == dict(part)


def test_the_facts_file_round_trips_every_part() -> None:
    part = frozen_map(
        {"contoso.lab": SmtpProbe("mx.contoso.lab", 25, 220, "mx ESMTP", ("STARTTLS",), True, True)}
    )
    evidence = Evidence(INVENTORY, run_settings(INVENTORY), now=NOW, exchange=EXCHANGE, smtp=part)
    loaded = evidence_from_dict(json.loads(json.dumps(evidence_to_dict(evidence))))
    assert loaded.now == NOW and loaded.exchange == EXCHANGE and dict(loaded.smtp) == dict(part)


def test_every_evidence_module_with_a_kind_is_registered_once() -> None:
    package = Path(os.__file__).parent
    modules = {p.stem for p in package.glob("*.py") if "\nKIND = " in p.read_text(encoding="utf-8")}
    assert sorted(k.name for k in KINDS) == sorted(modules)
    assert len({k.name for k in KINDS}) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_the_evidence_is_frozen(kind: Kind[Any]) -> None:
    """Every part of the Evidence is read-only once built: no mapping can be changed in place."""
    evidence = Evidence(INVENTORY, run_settings(INVENTORY))
    part = getattr(evidence, kind.name)
    mappings = [part] if hasattr(part, "keys") else [v for v in vars(part).values() if hasattr(v, "keys")]
    for mapping in mappings:
        with pytest.raises(TypeError):
            mapping["x"] = None

"""Checks declare what they read of the network evidence; gather fetches only that, and a name a
check reads without having declared it is an error naming it (fail closed), never a pass and never
a new query."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cas_conformance.checks import FactsUnavailable
from cas_conformance.checks.base import NEEDS, SERVER_NEEDS
from cas_conformance.domain.facts import MailboxDatabase, VdirKind
from cas_conformance.domain.records.dns import DnsAnswer, question
from cas_conformance.evidence.model import DnsEvidence, Endpoint, Needs, frozen_map
from cas_conformance.evidence.view import EvidenceView
from cas_conformance.run.evaluate import evaluate
from tests.checks.world_builder import Cas, a_record, judge, world

FAILBACK = "https://failback.contoso.lab/owa"


def _declared(w: EvidenceView) -> Needs:
    per_server = [declare(r) for r in w.servers.values() for declare in SERVER_NEEDS]
    return Needs.union([*(declare(w) for declare in NEEDS), *per_server])


def _org() -> EvidenceView:
    dbs = (MailboxDatabase("DB01", "CAS01", "outlook.contoso.lab"),)
    return world(
        Cas("CAS01", failback_url=FAILBACK, extra={"databases": dbs}),
        group_vars="probe_credentials=CAS_PROBE",
    )


def test_an_answer_no_check_declared_is_an_error_naming_it_even_when_gathered() -> None:
    """OUT-02 reads outlook.contoso.lab: the evidence holds its answer, but no declaration asked
    for it, so the check cannot read it (a check reads what it declared, nothing else)."""
    w = world(Cas("CAS01", extra={"databases": (MailboxDatabase("DB01", "CAS01", "outlook.contoso.lab"),)}))
    answer = a_record("outlook.contoso.lab", "10.0.0.20")
    undeclared = DnsEvidence(frozen_map({question("outlook.contoso.lab", "A"): answer}), frozenset())
    w = EvidenceView(replace(w.evidence, dns=undeclared))
    with pytest.raises(
        FactsUnavailable, match=r"DNS A of outlook\.contoso\.lab was read but no check declared it"
    ):
        judge(w, "OUT-02", "outlook.contoso.lab")
    declared = EvidenceView(
        replace(w.evidence, dns=replace(undeclared, declared=frozenset(undeclared.answers)))
    )
    assert judge(declared, "OUT-02", "outlook.contoso.lab").passed  # the same answer, declared


def test_the_checks_declare_every_name_they_read() -> None:
    """Evidence holding an answer to exactly each declared question (and nothing else): every
    check of the catalogue runs, and none reads a name it did not declare."""
    w = _org()
    needs = _declared(w)
    answers = {
        q: DnsAnswer(q[0], q[1], "NOERROR", ("10.0.0.5",) if q[1] == "A" else ("10 mx.contoso.lab",))
        for q in needs.resolve
    }
    w = EvidenceView(replace(w.evidence, dns=DnsEvidence(frozen_map(answers), needs.resolve)))
    verdicts = evaluate(w)
    assert verdicts
    undeclared = [v for v in verdicts if "no check declared" in v.detail]
    assert not undeclared, undeclared


def test_the_declarations_name_what_each_check_reads() -> None:
    needs = _declared(_org())
    assert {
        ("outlook.contoso.lab", "A"),  # OUT-02: the database's RpcClientAccessServer
        ("failback.contoso.lab", "A"),  # OWA-03: the FailbackUrl host
        ("cas01.contoso.lab", "A"),  # OWA-03: the server hosting the directory
        ("mail.contoso.lab", "A"),  # CONN-01: a published name
        ("contoso.lab", "MX"),  # CONN-07: the mail domain
    } <= needs.resolve
    assert {"failback.contoso.lab", "mail.contoso.lab", "cas01.contoso.lab"} <= needs.handshake
    assert "https://mail.contoso.lab/owa" in {e.url for e in needs.probe}
    assert needs.smtp == needs.autodiscover == frozenset({"contoso.lab"})  # CONN-07, CONN-06
    without_mailbox = _declared(world(Cas("CAS01")))
    assert not without_mailbox.autodiscover  # no probe_credentials: no Autodiscover request


def test_a_server_declares_its_endpoints_as_its_facts_arrive() -> None:
    record = world(Cas("CAS01")).servers["cas01.contoso.lab"]
    urls = {e.url for declare in SERVER_NEEDS for e in declare(record).probe}
    assert {"https://mail.contoso.lab/owa", "https://cas01.contoso.lab/owa"} <= urls


def test_a_url_without_a_host_declares_nothing_to_probe() -> None:
    """A virtual directory URL with no host (``/owa``) names nothing to connect to: it is no
    endpoint, so gather never waits for a probe it cannot make."""
    record = world(Cas("CAS01")).servers["cas01.contoso.lab"]
    assert record.facts is not None
    vdirs = tuple(
        replace(v, internal_url="/owa") if v.kind is VdirKind.OWA else v for v in record.facts.vdirs
    )
    record = replace(record, facts=replace(record.facts, vdirs=vdirs))
    probes = [e for declare in SERVER_NEEDS for e in declare(record).probe]
    assert probes and all(e.host for e in probes)
    assert "https://mail.contoso.lab/owa" in {e.url for e in probes}  # its ExternalUrl still counts


def test_needs_unite_without_duplicates_first_endpoint_kept() -> None:
    first = Endpoint("https://mail.contoso.lab/owa", "owa", ("Basic",), "CAS01\\owa", "cas01.contoso.lab")
    again = Endpoint("https://mail.contoso.lab/owa", "owa")
    a = Needs(resolve=frozenset({("mail.contoso.lab", "A")}), probe=(first,), smtp=frozenset({"contoso.lab"}))
    b = Needs(
        resolve=frozenset({("contoso.lab", "MX")}), handshake=frozenset({"mail.contoso.lab"}), probe=(again,)
    )
    both = a | b
    assert both == Needs.union([a, b])
    assert both.resolve == {("mail.contoso.lab", "A"), ("contoso.lab", "MX")} and both.probe == (first,)
    assert both.handshake == {"mail.contoso.lab"} and both.smtp == {"contoso.lab"} and not both.autodiscover

"""The authenticated Autodiscover request (CONN-06) against the lab's CAS, which reads the request
as Exchange does: the address is escaped in the request XML, an unknown address is error 500."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cas_conformance.evidence.http import _autodiscover_request
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.embedded import start_lab
from cas_conformance.run.evaluate import evaluate
from cas_conformance.run.gather import GatherOptions, gather
from cas_conformance.run.plan import plan_run
from cas_conformance.settings import Secret
from tests.lab.conftest import HEALTHY

REQUEST_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006}"


def test_the_request_carries_any_address_as_well_formed_xml() -> None:
    address = "o'brien&<partners>@contoso.lab"
    root = ET.fromstring(_autodiscover_request(address))
    assert root.findtext(f"{REQUEST_NS}Request/{REQUEST_NS}EMailAddress") == address


def _conn06(environ_extra: dict[str, str]) -> list[tuple[str, str]]:
    lab = start_lab(HEALTHY)
    try:
        world = gather(
            plan_run(parse_inventory(lab.inventory_text(), "lab.ini"), password=Secret(lab.password)),
            GatherOptions(environ={**lab.environ, **environ_extra}),
        )
    finally:
        lab.stop()
    return [(v.outcome, v.detail) for v in evaluate(world) if v.requirement == "CONN-06"]


def test_the_test_mailbox_is_discovered_and_an_unknown_address_is_error_500() -> None:
    assert [outcome for outcome, _ in _conn06({})] == ["passed"]
    # an address with XML's special characters reaches the server intact (escaped, then parsed):
    # the lab does not know it, so Exchange's answer is error 500, not 600 (an unreadable request)
    [(outcome, detail)] = _conn06({"CAS_CONFORMANCE_PROBE_EMAIL": "nobody&co@contoso.lab"})
    assert outcome == "failed"
    assert "Autodiscover answered error 500: The e-mail address cannot be found." in detail
    assert 'Get-Recipient -Identity "nobody&co@contoso.lab"' in detail  # the address asked about

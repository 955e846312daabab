"""``ansible_winrm_transport = credssp``: pywinrm's CredSSP transport, which needs requests-credssp.
Without it the host's collection is an error naming what to install, before any connection."""

from __future__ import annotations

import sys

import pytest

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.dns import Resolver
from cas_conformance.channels.winrm import _require_credssp, run_collector
from cas_conformance.errors import CollectionError
from cas_conformance.evidence.os import winrm_target
from cas_conformance.inventory import parse_inventory
from cas_conformance.settings import HostSettings, Secret, host_settings

# TEST-NET-1: never reached, the error comes before any connection.
INVENTORY = (
    "cas01.contoso.lab ansible_host=192.0.2.1 ansible_user=CONTOSO\\\\admin ansible_winrm_transport=credssp\n"
)


def _settings() -> HostSettings:
    inventory = parse_inventory(INVENTORY, "credssp.ini")
    return host_settings(inventory, inventory.hosts["cas01.contoso.lab"], password=Secret("Pw-CredSSP-1"))


def test_credssp_is_available_with_the_test_extra() -> None:
    _require_credssp("cas01.contoso.lab")  # requests-credssp is in the test and credssp extras


def test_a_missing_requests_credssp_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "requests_credssp", None)  # import now raises ImportError
    settings = _settings()
    assert settings.transport == "credssp"
    with pytest.raises(CollectionError) as caught:
        run_collector(
            winrm_target(settings),
            Dialer(Resolver(None, timeout=1), ()),
            ("powershell.exe", ("-Command", "1")),
        )
    reason = caught.value.reason
    assert "requests-credssp" in reason and "cas-conformance[credssp]" in reason, reason
    assert "Pw-CredSSP-1" not in str(caught.value)

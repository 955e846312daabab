"""Which Event 106 is the RPC Client Access one: its category name, whatever the language."""

from __future__ import annotations

import re

import pytest

from cas_conformance.collector.parse import parse_collector_output
from cas_conformance.domain.event106 import RPC_CLIENT_ACCESS_106_PATTERN, names_rpc_client_access_category
from tests.collector.test_samples import SAMPLES

PROCESSES = (
    " Processes running while Performance counter failed to update: \r\n"
    "2148 Microsoft.Exchange.RpcClientAccess.Service.exe\r\n1216 store.exe\r\n"
)


@pytest.mark.parametrize(
    ("message", "matches"),
    [
        (
            "Counter name is RPC Requests, category name is MSExchange RpcClientAccess. Optional code: 3.",
            True,
        ),
        (
            "Der Indikatorname lautet RPC Requests, der Kategoriename ist MSExchange RpcClientAccess. Optionaler",
            True,
        ),
        ("counter name is rpc requests, category name is msexchange rpcclientaccess.", True),
        (
            "Counter name is LDAP Read Time, category name is MSExchange ADAccess Processes." + PROCESSES,
            False,
        ),
        ("Counter name is X, category name is MSExchange RpcClientAccess Per Server." + PROCESSES, False),
        ("Counter name is X, category name is MSExchange RpcClientAccessX.", False),
        ("Counter name is RPC Requests, category name is MSExchange RpcClientAccess." + PROCESSES, True),
    ],
)
def test_the_category_name_decides(message: str, matches: bool) -> None:
    assert names_rpc_client_access_category(message) is matches
    # the earlier pattern matched the process list of every 106
    if "Microsoft.Exchange.RpcClientAccess.Service.exe" in message:
        assert re.search("RpcClientAccess", message, re.IGNORECASE)


def test_the_pattern_is_plain_enough_for_dotnet() -> None:
    # lookbehind/lookahead and \w only: the same meaning in .NET's -match and Python's re
    assert set(re.findall(r"\(\?[<!=]*", RPC_CLIENT_ACCESS_106_PATTERN)) <= {"(?<!", "(?!"}
    assert RPC_CLIENT_ACCESS_106_PATTERN.isascii() and "'" not in RPC_CLIENT_ACCESS_106_PATTERN


def test_the_german_sample_keeps_counter_and_category_names_english() -> None:
    text = (SAMPLES / "fra01-de-de.txt").read_text("ascii")
    (event,) = parse_collector_output(text, "FRA01").events
    assert (
        "Der Indikatorname lautet RPC Requests, der Kategoriename ist MSExchange RpcClientAccess."
        in event.message
    )
    assert names_rpc_client_access_category(event.message)


@pytest.mark.parametrize(
    ("name", "exists"), [("mbx02-mailbox-only.txt", False), ("ex01-multirole.txt", True)]
)
def test_samples_report_the_rpc_client_access_counter_category(name: str, exists: bool) -> None:
    facts = parse_collector_output((SAMPLES / name).read_text("ascii"), name.split("-")[0].upper())
    category = facts.counter_category("MSExchange RpcClientAccess")
    assert category is not None and category.exists is exists

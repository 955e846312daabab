"""Collector output text -> ServerFacts.

The format's reader (format.py) checks every line and value; this module checks what only makes
sense across records (one [meta] record and it comes first, at most one [rpcclientaccess] and
[winhttp]) and derives what the collector ships raw: the WinHTTP proxy and bypass list come from
the ``WinHttpSettings`` registry bytes, which win over the localised netsh text.
"""

from __future__ import annotations

from typing import Any

from cas_conformance.collector.format import SECTIONS, Record, read_block
from cas_conformance.domain.facts import CollectorMeta, ServerFacts, WinHttpSettings
from cas_conformance.domain.winhttp import WinHttpSettingsError, decode_winhttp_settings
from cas_conformance.errors import CollectorFormatError


def parse_collector_output(text: str, server: str) -> ServerFacts:
    """Parse what collect.ps1 printed on *server* (the name is only used in error messages).

    Raises CollectorFormatError naming the server, section and line for anything that is not
    exactly format version 1; text before BEGIN and after END is ignored.
    """
    block = read_block(text, server)
    if not block.records or block.records[0].section.name != "meta":
        first = block.records[0] if block.records else None
        raise CollectorFormatError(
            server,
            first.section.name if first else None,
            first.line if first else None,
            "the first record must be [meta]",
        )
    collected: dict[str, list[Any]] = {spec.facts_attr: [] for spec in SECTIONS}
    for record in block.records:
        spec = record.section
        if spec.single and collected[spec.facts_attr]:
            raise CollectorFormatError(server, spec.name, record.line, f"more than one [{spec.name}] record")
        collected[spec.facts_attr].append(_build(record, server))
    meta: CollectorMeta = collected["meta"][0]
    meta_line = block.records[0].line
    if meta.format_version != block.version:
        raise CollectorFormatError(
            server,
            "meta",
            meta_line,
            f"FormatVersion {meta.format_version} in a version {block.version} block",
        )
    if meta.computer_name == "":
        raise CollectorFormatError(server, "meta", meta_line, "ComputerName is empty")
    fields: dict[str, Any] = {}
    for spec in SECTIONS:
        items = collected[spec.facts_attr]
        fields[spec.facts_attr] = (items[0] if items else None) if spec.single else tuple(items)
    return ServerFacts(local_server=meta.computer_name, **fields)


def _build(record: Record, server: str) -> Any:
    if record.section.cls is not WinHttpSettings:
        return record.build()
    try:
        proxy, bypass = decode_winhttp_settings(record.values["registry_hex"])
    except WinHttpSettingsError as exc:
        raise CollectorFormatError(server, "winhttp", record.line, f"RegistryHex: {exc}") from None
    return WinHttpSettings(proxy=proxy, bypass_list=bypass, **record.values)

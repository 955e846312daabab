"""ServerFacts -> the exact text collect.ps1 would print for them.

The lab answers the collector script with this, so a simulated server and a real one are read by
the same parser. It is the inverse of parse_collector_output for every ServerFacts the format can
express; facts it cannot express raise ValueError instead of printing something else.
"""

from __future__ import annotations

from collections.abc import Sequence

from cas_conformance.collector.format import FORMAT_VERSION, SECTIONS, encode_value, write_block
from cas_conformance.domain.facts import ServerFacts
from cas_conformance.domain.winhttp import WinHttpSettingsError, decode_winhttp_settings


def render_collector_output(facts: ServerFacts) -> str:
    """Records in collect.ps1's order (meta, organisation lists, local facts, errors last), LF line
    ends. Datetimes print in UTC to the second (naive ones are taken as UTC)."""
    _check_expressible(facts)
    records: list[tuple[str, Sequence[tuple[str, str]]]] = []
    for spec in SECTIONS:
        value = getattr(facts, spec.facts_attr)
        items = ([] if value is None else [value]) if spec.single else list(value)
        for item in items:
            pairs = [
                (field.key, encode_value(field.kind, getattr(item, field.attr))) for field in spec.fields
            ]
            records.append((spec.name, pairs))
    return write_block(records)


def _check_expressible(facts: ServerFacts) -> None:
    if facts.meta.format_version != FORMAT_VERSION:
        raise ValueError(f"meta.format_version is {facts.meta.format_version}; this renders {FORMAT_VERSION}")
    if facts.local_server != facts.meta.computer_name:
        raise ValueError(
            f"local_server {facts.local_server!r} must equal meta.computer_name {facts.meta.computer_name!r}"
        )
    if facts.winhttp is not None:
        try:
            derived = decode_winhttp_settings(facts.winhttp.registry_hex)
        except WinHttpSettingsError as exc:
            raise ValueError(f"winhttp.registry_hex cannot be printed: {exc}") from exc
        given = (facts.winhttp.proxy, facts.winhttp.bypass_list)
        if derived != given:
            raise ValueError(
                f"winhttp proxy/bypass_list {given!r} do not match "
                f"registry_hex, which decodes to {derived!r} (build it with encode_winhttp_settings)"
            )

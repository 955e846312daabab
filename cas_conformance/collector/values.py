"""How one value of the collector's text format is spelled (docs/collector-format.md, "Values"):
text and lists percent-encoded UTF-8, and one invariant spelling each for booleans, integers,
dates and hex. Each reader accepts only its writer's canonical output, so every value has exactly
one spelling; a value spelled otherwise is a ValueFormatError (the record reader in format.py adds
the server, section and line)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone

# Printable ASCII except the three bytes that carry meaning: '%' (escape), ';' (list), '=' (key).
_LITERAL = re.compile(r"[ -$&-:<>-~]*", re.ASCII)
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)", re.ASCII)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z", re.ASCII)
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*", re.ASCII)
_UPPER_HEX = "0123456789ABCDEF"
_AS_IS = frozenset(range(0x20, 0x7F)) - {0x25, 0x3B, 0x3D}  # the bytes _LITERAL matches


class ValueFormatError(ValueError):
    """One value is not spelled as the format requires (wrapped into CollectorFormatError)."""


def encode_text(value: str) -> str:
    """Percent-encode *value*: every UTF-8 byte outside printable ASCII, and ``%`` ``;`` ``=``."""
    if _LITERAL.fullmatch(value):
        return value
    out: list[str] = []
    for byte in value.encode("utf-8"):
        out.append(chr(byte) if byte in _AS_IS else f"%{byte:02X}")
    return "".join(out)


def decode_text(raw: str) -> str:
    """Invert :func:`encode_text`, accepting only its canonical output (upper-case escapes, and
    only for bytes that must be escaped) so that every value has exactly one spelling."""
    if _LITERAL.fullmatch(raw):
        return raw
    data = bytearray()
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "%":
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or any(c not in _UPPER_HEX for c in pair):
                raise ValueFormatError(
                    f"bad escape {raw[i : i + 3]!r} at column {i + 1}: want %XX, upper hex"
                )
            byte = int(pair, 16)
            if byte in _AS_IS:
                raise ValueFormatError(
                    f"bad escape %{pair} at column {i + 1}: {chr(byte)!r} is written as is"
                )
            data.append(byte)
            i += 3
            continue
        if ord(char) not in _AS_IS:
            raise ValueFormatError(f"character {char!r} at column {i + 1} must be percent-encoded")
        data.append(ord(char))
        i += 1
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueFormatError(f"bad escape: the escaped bytes are not UTF-8 ({exc.reason})") from exc


def encode_list(items: Iterable[str]) -> str:
    encoded = []
    for item in items:
        if item == "":
            raise ValueError("a list item cannot be empty: the format cannot tell it from no item")
        encoded.append(encode_text(item))
    return ";".join(encoded)


def decode_list(raw: str) -> tuple[str, ...]:
    if raw == "":
        return ()
    items = raw.split(";")
    if "" in items:
        raise ValueFormatError("empty list item (';' at the start, the end or twice in a row)")
    return tuple(decode_text(item) for item in items)


def format_date(value: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ`` in UTC; naive datetimes are taken as UTC, fractions are dropped
    (PowerShell's format string prints none)."""
    utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def parse_date(raw: str) -> datetime:
    match = _DATE.fullmatch(raw)
    if not match:
        raise ValueFormatError(f"bad date {raw!r}: want yyyy-MM-ddTHH:mm:ssZ")
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError as exc:
        raise ValueFormatError(f"bad date {raw!r}: {exc}") from exc


def decode_bool(raw: str) -> bool:
    if raw == "True":
        return True
    if raw == "False":
        return False
    raise ValueFormatError(f"bad boolean {raw!r}: want True or False")


def decode_int(raw: str) -> int:
    if not _INT.fullmatch(raw) or raw == "-0":
        raise ValueFormatError(f"bad integer {raw!r}: want invariant decimal digits")
    return int(raw)


def decode_hex(raw: str) -> str:
    if not _HEX.fullmatch(raw):
        raise ValueFormatError(f"bad hex value {raw[:40]!r}: want pairs of hex digits")
    return raw

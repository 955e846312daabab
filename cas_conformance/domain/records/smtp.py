"""The record of one SMTP probe: the banner, the EHLO extensions, and whether STARTTLS completed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SmtpProbe:
    host: str
    port: int
    banner_code: int | None = None
    banner: str = ""
    extensions: tuple[str, ...] = ()
    starttls_offered: bool = False
    starttls_ok: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "banner_code": self.banner_code,
            "banner": self.banner,
            "extensions": list(self.extensions),
            "starttls_offered": self.starttls_offered,
            "starttls_ok": self.starttls_ok,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SmtpProbe:
        """A saved probe. What the check judges by (the banner code, STARTTLS offered, the error)
        is required; the banner text, the EHLO extensions and whether STARTTLS completed, which
        no verdict reads, may be absent (docs/facts-files.md)."""
        code, error = data["banner_code"], data["error"]
        return cls(
            host=str(data["host"]),
            port=int(data["port"]),
            banner_code=None if code is None else int(code),
            banner=str(data.get("banner", "")),
            extensions=tuple(str(e) for e in data.get("extensions", ())),
            starttls_offered=bool(data["starttls_offered"]),
            starttls_ok=bool(data.get("starttls_ok", False)),
            error=None if error is None else str(error),
        )

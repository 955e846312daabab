"""The record of one HTTP probe: what a request (and its same-host redirects) got back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HttpProbe:
    """What one request (and its same-host redirects) to ``url`` got back."""

    url: str
    method: str
    status: int | None
    final_url: str
    redirects: tuple[tuple[int, str], ...] = ()
    www_authenticate: tuple[str, ...] = ()
    location: str | None = None
    content_type: str | None = None
    body_excerpt: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "method": self.method,
            "status": self.status,
            "final_url": self.final_url,
            "redirects": [[code, target] for code, target in self.redirects],
            "www_authenticate": list(self.www_authenticate),
            "location": self.location,
            "content_type": self.content_type,
            "body_excerpt": self.body_excerpt,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HttpProbe:
        """A saved probe. Everything the checks judge by is required (a missing status or error
        would read as another outcome); the ``Location`` and ``Content-Type`` headers, kept for
        the audit only, may be absent (docs/facts-files.md)."""
        status, error = data["status"], data["error"]
        return cls(
            url=str(data["url"]),
            method=str(data["method"]),
            status=None if status is None else int(status),
            final_url=str(data["final_url"]),
            redirects=tuple((int(code), str(target)) for code, target in data["redirects"]),
            www_authenticate=tuple(str(s) for s in data["www_authenticate"]),
            location=data.get("location"),
            content_type=data.get("content_type"),
            body_excerpt=str(data["body_excerpt"]),
            error=None if error is None else str(error),
        )

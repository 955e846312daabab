"""The record of one revocation question: how it was asked (OCSP, CRL) and what came back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

Method = Literal["ocsp", "crl", "none"]
Status = Literal["good", "revoked", "unknown", "unreachable", "error"]


@dataclass(frozen=True)
class RevocationResult:
    method: Method
    status: Status
    url: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "status": self.status, "url": self.url, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RevocationResult:
        method, status = data["method"], data["status"]
        if method not in get_args(Method) or status not in get_args(Status):
            raise ValueError(f"not a revocation result: method {method!r}, status {status!r}")
        url = data["url"]
        return cls(
            cast(Method, method), cast(Status, status), None if url is None else str(url), str(data["detail"])
        )

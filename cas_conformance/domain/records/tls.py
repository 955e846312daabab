"""The record of one TLS handshake: the chain a server sent, or why there is none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TlsHandshake:
    """What one handshake returned: the chain as sent (leaf first, PEM), or why there is none."""

    server_name: str
    address: str
    port: int
    chain_pem: tuple[str, ...]
    protocol: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "server_name": self.server_name,
            "address": self.address,
            "port": self.port,
            "chain_pem": list(self.chain_pem),
            "protocol": self.protocol,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TlsHandshake:
        return cls(
            server_name=str(data["server_name"]),
            address=str(data["address"]),
            port=int(data["port"]),
            chain_pem=tuple(str(pem) for pem in data["chain_pem"]),
            protocol=None if data["protocol"] is None else str(data["protocol"]),
            error=None if data["error"] is None else str(data["error"]),
        )

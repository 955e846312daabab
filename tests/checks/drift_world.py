"""Hand-built facts for the DRIFT-* unit tests (the shared builder, under its first name)."""

from tests.checks.world_builder import NAMES, NOW, SP3, Cas, certificate, three, with_servers, world

__all__ = ["NAMES", "NOW", "SP3", "Cas", "certificate", "three", "with_servers", "world"]

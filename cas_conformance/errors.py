"""The project's exception hierarchy: one root, each error saying where it happened."""

from __future__ import annotations


class CasConformanceError(Exception):
    """Root of every error this project raises on purpose."""


class InventoryError(CasConformanceError):
    """A malformed or missing inventory, with the file and line at fault."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class CollectionError(CasConformanceError):
    """Facts could not be gathered from a server or a name over one channel."""

    def __init__(self, server: str, channel: str, reason: str) -> None:
        self.server = server
        self.channel = channel
        self.reason = reason
        super().__init__(f"{server}: {channel}: {reason}")


class CollectorFormatError(CasConformanceError):
    """The collector's output could not be parsed: names the server, section and line."""

    def __init__(self, server: str, section: str | None, line: int | None, message: str) -> None:
        self.server = server
        self.section = section
        self.line = line
        self.message = message
        parts = [server]
        if section:
            parts.append(f"section [{section}]")
        if line is not None:
            parts.append(f"line {line}")
        super().__init__(f"{', '.join(parts)}: {message}")


class LabError(CasConformanceError):
    """The built-in lab could not start or was asked for something it does not simulate."""


class CasConformanceWarning(UserWarning):
    """Something works but weakens the run: a password in the inventory, certificate checks off."""


class FactsUnavailable(CasConformanceError):
    """The facts a check needs could not be gathered: the test is an error, never a pass."""

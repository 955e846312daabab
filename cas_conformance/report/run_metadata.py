"""Who ran what, where and when: the run metadata of every report.

A change board reading a report must be able to tie it to one inventory file (its SHA-256), one
suite version, one runner and one person. Nothing here may reveal a password: the user name is the
runner's login name, never a credential, and when the inventory itself holds a password variable
the hash is taken over the file with those values masked (a plain hash of a file whose other lines
are known would let anyone test password guesses against the report).
"""

from __future__ import annotations

import getpass
import hashlib
import platform
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

# Same rule as the inventory's masked variables: a name containing pass, secret or token.
_SECRET_ASSIGNMENT = re.compile(
    r"""(?P<key>\b[A-Za-z_][A-Za-z0-9_]*(?:pass|secret|token)[A-Za-z0-9_]*\s*=\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|\S+)""",
    re.IGNORECASE,
)
_SECRET_VAR_LINE = re.compile(
    r"^(?P<key>\s*[A-Za-z_][A-Za-z0-9_]*(?:pass|secret|token)[A-Za-z0-9_]*\s*[=:]).*$",
    re.IGNORECASE | re.MULTILINE,
)
REDACTED_NOTE = "password values masked before hashing"


def suite_version() -> str:
    try:
        return importlib_metadata.version("cas-conformance")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def file_sha256(path: Path, *, mask_passwords: bool = True) -> tuple[str | None, bool]:
    """SHA-256 of *path* (None when unreadable) and whether password values were masked first."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, False
    if not mask_passwords:
        return hashlib.sha256(data).hexdigest(), False
    text = data.decode("utf-8", errors="surrogateescape")
    masked = _SECRET_VAR_LINE.sub(lambda m: m.group("key") + " ***", text)
    masked = _SECRET_ASSIGNMENT.sub(lambda m: m.group("key") + "***", masked)
    if masked == text:
        return hashlib.sha256(data).hexdigest(), False
    return hashlib.sha256(masked.encode("utf-8", errors="surrogateescape")).hexdigest(), True


@dataclass(frozen=True)
class RunMetadata:
    inventory: str | None
    inventory_sha256: str | None
    inventory_sha256_note: str | None
    replay_facts: str | None
    replay_facts_sha256: str | None
    suite_version: str
    start_time: str
    runner_host: str
    user: str
    python: str
    lab_faults: tuple[str, ...]
    #: the Client Access server whose Exchange remote PowerShell served the Exchange facts
    exchange_powershell: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "inventory": self.inventory,
            "inventory_sha256": self.inventory_sha256,
            "inventory_sha256_note": self.inventory_sha256_note,
            "replay_facts": self.replay_facts,
            "replay_facts_sha256": self.replay_facts_sha256,
            "suite_version": self.suite_version,
            "start_time": self.start_time,
            "runner_host": self.runner_host,
            "user": self.user,
            "python": self.python,
            "lab_faults": list(self.lab_faults),
            "exchange_powershell": self.exchange_powershell,
        }

    def display(self) -> dict[str, str]:
        """Label -> text, for the HTML environment table and the terminal (unescaped)."""
        rows = {}
        if self.replay_facts:
            rows["Replayed facts"] = self.replay_facts
            rows["Replayed facts SHA-256"] = self.replay_facts_sha256 or "(unreadable)"
        if self.inventory:
            rows["Inventory"] = self.inventory
            sha = self.inventory_sha256 or "(unreadable)"
            rows["Inventory SHA-256"] = sha + (
                f" ({self.inventory_sha256_note})" if self.inventory_sha256_note else ""
            )
        if self.lab_faults:
            rows["Lab faults"] = ", ".join(self.lab_faults)
        if self.exchange_powershell:
            rows["Exchange remote PowerShell"] = self.exchange_powershell
        rows["Suite version"] = f"cas-conformance {self.suite_version}"
        rows["Start time"] = self.start_time
        rows["Runner host"] = self.runner_host
        rows["User"] = self.user
        return rows


def collect_run_metadata(
    *,
    inventory: str | None,
    replay_facts: str | None,
    lab_faults: tuple[str, ...],
    base_dir: Path,
    now: datetime | None = None,
) -> RunMetadata:
    """Metadata of a run that reads *inventory* (or replays *replay_facts*), paths relative to *base_dir*."""
    inv_sha = inv_note = replay_sha = None
    if inventory:
        inv_sha, masked = file_sha256(Path(base_dir, inventory))
        inv_note = REDACTED_NOTE if masked else None
    if replay_facts:
        replay_sha, _ = file_sha256(Path(base_dir, replay_facts), mask_passwords=False)
    started = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    return RunMetadata(
        inventory=inventory,
        inventory_sha256=inv_sha,
        inventory_sha256_note=inv_note,
        replay_facts=replay_facts,
        replay_facts_sha256=replay_sha,
        suite_version=suite_version(),
        start_time=started.isoformat(),
        runner_host=socket.gethostname(),
        user=user_name(),
        python=platform.python_version(),
        lab_faults=lab_faults,
    )

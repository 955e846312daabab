"""A lab scenario given by name (``healthy``, ``broken``, ``migration``) or by path.

Names are the scenarios the package carries (``cas_conformance.locations.scenario_dir``: the
wheel's copies, or ``fixtures/lab`` in a checkout), so the built-in lab needs nothing but the
installed package. A value with no directory part and no ``.toml`` suffix is a name; anything else
is a file, relative to *base* (the inventory's directory for ``lab_scenario``, the working
directory for ``lab serve``).
"""

from __future__ import annotations

from pathlib import Path

from cas_conformance.errors import LabError
from cas_conformance.locations import scenario_dir

SUFFIX = ".toml"


def scenario_names() -> list[str]:
    """The scenarios addressable by name, sorted."""
    return sorted(p.stem for p in scenario_dir().glob(f"*{SUFFIX}"))


def is_scenario_name(value: str) -> bool:
    return (
        bool(value)
        and not any(c in value for c in "/\\")
        and not value.endswith(SUFFIX)
        and value not in (".", "..")
    )


def resolve_scenario(value: str, base: Path) -> Path:
    """The scenario file *value* names; LabError (with the known names) for an unknown name."""
    if not is_scenario_name(value):
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(base, path)
    found = scenario_dir() / f"{value}{SUFFIX}"
    if found.is_file():
        return found
    known = ", ".join(scenario_names()) or "none installed"
    raise LabError(f"unknown lab scenario {value!r}: give a scenario file (.toml) or one of: {known}")

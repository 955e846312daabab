"""cas-conformance: a pytest conformance suite for Exchange 2010 SP2/SP3 Client Access servers.

The names a test of the suite or a script imports are here (``from cas_conformance import
Finding, assert_conforms``), each loaded when first used: ``import cas_conformance`` itself loads
nothing else, and pytest only with ``assert_conforms``.

PYTEST_DONT_REWRITE: the console script imports this package before pytest starts (and a run
rooted again at the suite, see ``rooting``, starts pytest a second time), so pytest must not warn
that it was imported before it could rewrite its asserts; the package's code does not rely on
rewritten asserts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cas_conformance.checks import REQUIREMENTS, FactsUnavailable, Finding, NotApplicable, requirement
    from cas_conformance.domain.catalogue import Requirement, Severity
    from cas_conformance.pytest_plugin.assertions import assert_conforms
    from cas_conformance.run.evaluate import Verdict, evaluate

__version__ = "0.1.0"

#: Where each public name lives (the TYPE_CHECKING imports above say the same, for type checkers).
_HOMES = {
    "FactsUnavailable": "cas_conformance.checks",
    "Finding": "cas_conformance.checks",
    "NotApplicable": "cas_conformance.checks",
    "REQUIREMENTS": "cas_conformance.checks",
    "Requirement": "cas_conformance.domain.catalogue",
    "Severity": "cas_conformance.domain.catalogue",
    "Verdict": "cas_conformance.run.evaluate",
    "assert_conforms": "cas_conformance.pytest_plugin.assertions",
    "evaluate": "cas_conformance.run.evaluate",
    "requirement": "cas_conformance.checks",
}

__all__ = [
    "REQUIREMENTS",
    "FactsUnavailable",
    "Finding",
    "NotApplicable",
    "Requirement",
    "Severity",
    "Verdict",
    "assert_conforms",
    "evaluate",
    "requirement",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""Checks: pure functions from gathered facts to findings, one module per reference section.

Importing this package registers every check in ``CHECKS``.
"""

from cas_conformance.checks import (  # noqa: F401 - imported for registration
    certificates,
    connectivity,
    drift,
    outlook,
    owa,
    proxy,
    rpc,
    version,
)
from cas_conformance.checks.base import CHECKS, Case, CheckSpec, FactsUnavailable, Finding, NotApplicable

__all__ = ["CHECKS", "Case", "CheckSpec", "FactsUnavailable", "Finding", "NotApplicable"]

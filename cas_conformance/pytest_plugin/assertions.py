"""What a test of the suite asserts about its finding."""

from __future__ import annotations

import pytest

from cas_conformance.checks import Finding


def assert_conforms(result: Finding) -> None:
    """Fail the calling test with the finding's full text (ids, values, remediation)."""
    __tracebackhide__ = True
    if not result.passed:
        pytest.fail(result.message(), pytrace=False)

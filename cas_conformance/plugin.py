"""pytest glue for cas-conformance (options, markers, fixtures, parametrization)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cas-conformance")
    group.addoption("--inventory", default=None, help="Ansible-style INI inventory (default: inventory.ini)")

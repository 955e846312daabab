"""The project's own tests. ``pytester`` runs the suite as users run it."""

import pytest

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wheel: builds the wheel and runs it in a fresh venv (under a minute); -m 'not wheel' leaves it out",
    )

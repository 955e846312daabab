"""The project's own tests. ``pytester`` runs the suite as users run it."""

import pytest

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wheel: builds the wheel and runs it in a fresh venv (under a minute); -m 'not wheel' leaves it out",
    )
    # The lab's WinRM listeners speak TLS 1.0 only, as an unhardened 2008 R2 does, so every gathering
    # here warns about it; the tests about that warning record it with pytest.warns all the same.
    config.addinivalue_line(
        "filterwarnings", r"ignore:.* spoke TLSv1(\.1)? only:cas_conformance.errors.CasConformanceWarning"
    )

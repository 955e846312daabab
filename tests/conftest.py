"""The project's own tests. ``pytester`` runs the suite as users run it."""

pytest_plugins = ["pytester"]


def pytest_configure(config: object) -> None:
    config.addinivalue_line(  # type: ignore[attr-defined]
        "markers",
        "wheel: builds the wheel and runs it in a fresh venv (about 20 s); -m 'not wheel' leaves it out",
    )

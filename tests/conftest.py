"""The project's own tests. ``pytester`` runs the suite as users run it."""

pytest_plugins = ["pytester"]

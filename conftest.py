"""Wires only what the ``pytest11`` entry point cannot: running the suite from a source checkout
where the package is not installed (the entry point exists only once it is). Installed, the
entry point loads ``cas_conformance.pytest_plugin.plugin`` and this file does nothing."""

from importlib.metadata import entry_points

if not any(ep.value == "cas_conformance.pytest_plugin.plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["cas_conformance.pytest_plugin.plugin"]

"""pytest glue only: options, markers, parametrization, xdist, terminal and report hooks.

The ``pytest11`` entry point loads ``cas_conformance.pytest_plugin.plugin``.
"""

"""Typed, validated settings, built from the inventory before any connection: the run's and each
host's (``read``, with the value parsers of ``values``), the password (``password``, a ``Secret``),
Kerberos (``kerberos``), ``connect_to`` rules (``connect_to``), unknown variables and missing
passwords (``validate``)."""

from cas_conformance.domain.secret import Secret
from cas_conformance.settings.password import PASSWORD_ENV, resolve_password
from cas_conformance.settings.read import (
    KNOWN_VARIABLES,
    HostSettings,
    RunSettings,
    host_settings,
    run_settings,
)
from cas_conformance.settings.values import DEFAULT_POLLING_REGISTRY_KEY

__all__ = [
    "DEFAULT_POLLING_REGISTRY_KEY",
    "KNOWN_VARIABLES",
    "PASSWORD_ENV",
    "HostSettings",
    "RunSettings",
    "Secret",
    "host_settings",
    "resolve_password",
    "run_settings",
]

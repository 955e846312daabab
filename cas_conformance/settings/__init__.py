"""Typed, validated settings, built from the inventory before any connection: the run's and each
host's (``read``), the password (``Secret``), Kerberos (``kerberos``), unknown variables
(``validate``)."""

from cas_conformance.domain.secret import Secret
from cas_conformance.settings.read import (
    DEFAULT_POLLING_REGISTRY_KEY,
    KNOWN_VARIABLES,
    PASSWORD_ENV,
    HostSettings,
    RunSettings,
    host_settings,
    resolve_password,
    run_settings,
)

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

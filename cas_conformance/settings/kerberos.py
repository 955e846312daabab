"""The Kerberos part of a WinRM host's settings (``ansible_winrm_transport = kerberos``).

Variables (Ansible's names where Ansible has them):

- ``kerberos_config``: a krb5.conf to use (the lab hands its own); default: the system's
  (``KRB5_CONFIG``, else /etc/krb5.conf).
- ``kerberos_realm`` and ``kerberos_kdc`` (``host[:port]``, comma-separated): a realm and its KDCs
  for a runner whose krb5.conf does not know them; written to a private krb5.conf that is read
  before the system's.
- ``ansible_winrm_kinit_mode``: ``managed`` (default: a ticket is got with the run's password into
  private memory, never the user's ccache) or ``manual`` (the ticket already in the user's default
  ccache, from their own ``kinit``; no password needed).
- ``ansible_winrm_kerberos_delegation``: ask for a forwardable ticket and delegate it (default no).
- ``ansible_winrm_kerberos_hostname_override``: the host name in the service principal
  (``HTTP/<name>``) when it differs from the name connected to.
- ``ansible_winrm_service``: the service class of the SPN (default ``HTTP``, as WinRM registers it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cas_conformance.settings.reader import Reader

KINIT_MODES = ("managed", "manual")
KERBEROS_VARIABLES = frozenset(
    {
        "kerberos_config",
        "kerberos_realm",
        "kerberos_kdc",
        "ansible_winrm_kinit_mode",
        "ansible_winrm_kerberos_delegation",
        "ansible_winrm_kerberos_hostname_override",
        "ansible_winrm_service",
    }
)
_REALM = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_KDC = re.compile(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_SERVICE = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,31}")
_TRUE = ("yes", "true", "1", "on")
_FALSE = ("no", "false", "0", "off")


@dataclass(frozen=True)
class KerberosSettings:
    config: str | None = None
    realm: str | None = None
    kdcs: tuple[str, ...] = ()
    kinit_mode: str = "managed"
    delegation: bool = False
    hostname_override: str | None = None
    service: str = "HTTP"


def _realm(text: str) -> str:
    value = text.strip()
    if not _REALM.fullmatch(value):
        raise ValueError(f"{text!r} is not a Kerberos realm (e.g. CONTOSO.COM)")
    return value.upper()


def _kdcs(text: str) -> tuple[str, ...]:
    entries = tuple(part.strip() for part in text.split(",") if part.strip())
    for entry in entries:
        port = entry.rpartition(":")[2] if not entry.endswith("]") and ":" in entry else "88"
        if not _KDC.fullmatch(entry) or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} is not a KDC (host or host:port, comma-separated)")
    if not entries:
        raise ValueError("no KDC given (host or host:port, comma-separated)")
    return entries


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text!r} is not yes or no")


def _mode(text: str) -> str:
    value = text.strip().lower()
    if value not in KINIT_MODES:
        raise ValueError(f"{text!r} is not one of {', '.join(KINIT_MODES)}")
    return value


def _hostname(text: str) -> str:
    value = text.strip()
    if not value or any(ch.isspace() or ch in "/@\\" for ch in value):
        raise ValueError(f"{text!r} is not a host name")
    return value


def _service(text: str) -> str:
    if not _SERVICE.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not a service class (letters, digits, '-'; e.g. HTTP)")
    return text.strip()


def kerberos_settings(reader: Reader) -> KerberosSettings:
    """Parse a host's Kerberos variables (bad values are usage errors at their lines)."""
    realm = reader.get("kerberos_realm", _realm, None)

    def kdcs(text: str) -> tuple[str, ...]:
        if realm is None:
            raise ValueError("kerberos_kdc needs kerberos_realm (the realm those KDCs serve)")
        return _kdcs(text)

    return KerberosSettings(
        config=reader.path("kerberos_config"),
        realm=realm,
        kdcs=reader.get("kerberos_kdc", kdcs, ()),
        kinit_mode=reader.get("ansible_winrm_kinit_mode", _mode, "managed"),
        delegation=reader.get("ansible_winrm_kerberos_delegation", _bool, False),
        hostname_override=reader.get("ansible_winrm_kerberos_hostname_override", _hostname, None),
        service=reader.get("ansible_winrm_service", _service, "HTTP"),
    )

"""The run's WinRM password: where it comes from (environment, prompt, else each host's own
``ansible_password``), as a :class:`Secret`, which never prints its value."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cas_conformance.domain.secret import Secret
from cas_conformance.inventory import Inventory

PASSWORD_ENV = "CAS_CONFORMANCE_PASSWORD"


def resolve_password(
    inventory: Inventory,
    *,
    environ: Mapping[str, str],
    ask: Callable[[], str] | None,
    warn: Callable[[str], None],
) -> Secret | None:
    """The run's WinRM password: a non-empty environment variable, else the prompt, else None.

    With neither, hosts that set ``ansible_password`` use it (see :func:`host_settings`), and
    *warn* is called once, pointing at the first line that puts a password in the inventory.
    """
    from_env = environ.get(PASSWORD_ENV)
    if from_env:
        return Secret(from_env)
    if ask is not None:
        return Secret(ask())
    # The file and line of each plain (not Vault-encrypted) ansible_password; lines may be absent
    # (a source read through ansible-inventory).
    places = sorted(
        (path, line or 0)
        for path, line in (
            inventory.source_of(h, "ansible_password")
            for h in inventory.hosts.values()
            if "ansible_password" in h.vars
        )
    )
    if places:
        path, line = places[0]
        warn(
            f"ansible_password in {path}{f':{line}' if line else ''} stores a password in the inventory; "
            f"prefer {PASSWORD_ENV} or --ask-pass"
        )
    return None

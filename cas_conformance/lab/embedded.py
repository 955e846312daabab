"""Start a lab for one pytest session (an inventory whose ``[all:vars]`` has ``lab_scenario``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cas_conformance.domain.secret import Secret
from cas_conformance.lab.runtime import Lab
from cas_conformance.lab.scenario.faults import apply_faults
from cas_conformance.lab.scenario.generated import generated
from cas_conformance.lab.scenario.model import load_scenario


class EmbeddedLab:
    """The lab as the plugin sees it: variables to overlay on the inventory, the password, stop()."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    @property
    def password(self) -> Secret:
        return Secret(self.lab.password)

    @property
    def environ(self) -> dict[str, str]:
        return self.lab.environ

    def simulates(self, host: str) -> bool:
        return self.lab.simulates(host)

    def run_vars(self) -> dict[str, str]:
        return self.lab.run_vars()

    def host_vars(self, host: str) -> dict[str, str]:
        return self.lab.host_vars(host)

    def describe(self) -> str:
        return self.lab.describe()

    def stop(self) -> None:
        self.lab.stop()


def start_lab(
    scenario_path: Path,
    *,
    faults: Sequence[str] = (),
    password: str | None = None,
    winrm_latency: float = 0.0,
    servers: int = 0,
    kerberos: bool = False,
) -> Lab:
    """Load, optionally grow to *servers* generated servers, apply faults, start."""
    scenario = load_scenario(scenario_path)
    if servers:
        scenario = generated(scenario, servers)
    apply_faults(scenario, [*scenario.faults, *faults])
    return Lab(scenario, password=password, winrm_latency=winrm_latency, kerberos=kerberos).start()


def start_embedded_lab(
    scenario_path: Path,
    *,
    faults: Sequence[str] = (),
    password: Secret | None = None,
    kerberos: bool = False,
) -> EmbeddedLab:
    """The lab for one run; *kerberos* (the inventory's ``ansible_winrm_transport = kerberos``)
    starts its KDC and has the simulated hosts reached over Kerberos."""
    secret = password.reveal() if password is not None else None
    return EmbeddedLab(start_lab(scenario_path, faults=faults, password=secret, kerberos=kerberos))

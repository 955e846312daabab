"""Save every gathered fact of a run and load it back: audit evidence, offline re-evaluation, and
how xdist workers share the controller's one collection.

The file holds the effective inventory (without any password) and, under ``evidence``, each kind's
part as its module saves it (``evidence.registry``): the Exchange answers, each server's raw
collector output (parsed again on load, so a suite upgrade re-reads the evidence), every DNS
answer, TLS chain, revocation answer and HTTP/SMTP probe, and the trust roots the run used.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cas_conformance.errors import CasConformanceError
from cas_conformance.evidence.kind import Loading
from cas_conformance.evidence.model import Evidence
from cas_conformance.evidence.registry import KINDS
from cas_conformance.evidence.view import EvidenceView
from cas_conformance.inventory import parse_inventory
from cas_conformance.inventory.ini_writer import render_inventory
from cas_conformance.settings import Secret, run_settings

SCHEMA = "cas-conformance/facts/3"
#: files this version cannot read, and why (each refused with that reason)
OLD_SCHEMAS = {
    "cas-conformance/facts/1": "it was written by a suite that read Exchange through the snap-in collector; "
    "gather the facts again with this version",
    "cas-conformance/facts/2": "it was written before each kind of evidence saved its own part; "
    "gather the facts again with this version",
}
LOCAL_FILE_VARS = frozenset(
    {"tls_ca_bundle", "ansible_winrm_ca_trust_path", "lab_scenario", "kerberos_config"}
)


class FactsFileError(CasConformanceError):
    """A facts file that cannot be read back."""


def evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "now": evidence.now.isoformat(),
        # Files of the gathering run (trust bundles) need not exist on replay: the roots are saved.
        "inventory": render_inventory(evidence.inventory, omit=LOCAL_FILE_VARS),
        "inventory_path": evidence.inventory.path,
        "evidence": {kind.name: kind.save(getattr(evidence, kind.name)) for kind in KINDS},
    }


def save_evidence(evidence: Evidence, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(evidence_to_dict(evidence), indent=1, sort_keys=True)
    Path(path).write_text(text, encoding="utf-8")


def save_world(world: EvidenceView, path: str | Path) -> None:
    save_evidence(world.evidence, path)


def evidence_from_dict(data: dict[str, Any], *, password: Secret | None = None) -> Evidence:
    if data.get("schema") in OLD_SCHEMAS:
        raise FactsFileError(
            f"facts schema {data['schema']} is an old format this suite no longer reads ({SCHEMA}): "
            f"{OLD_SCHEMAS[data['schema']]}"
        )
    if data.get("schema") != SCHEMA:
        raise FactsFileError(f"unknown facts schema {data.get('schema')!r} (this suite reads {SCHEMA})")
    inventory = parse_inventory(data["inventory"], data.get("inventory_path", "<facts file>"))
    parts: dict[str, Any] = {}
    for kind in KINDS:
        parts[kind.name] = kind.load(data["evidence"][kind.name], Loading(inventory, parts))
    return Evidence(
        inventory,
        run_settings(inventory),
        now=datetime.fromisoformat(data["now"]),
        **parts,
    )


def world_from_dict(data: dict[str, Any], *, password: Secret | None = None) -> EvidenceView:
    return EvidenceView(evidence_from_dict(data, password=password))


def load_world(path: str | Path, *, password: Secret | None = None) -> EvidenceView:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FactsFileError(f"{path}: cannot read facts: {exc}") from None
    if not isinstance(data, dict):
        raise FactsFileError(f"{path}: not a facts file (a JSON object is expected)")
    try:
        return world_from_dict(data, password=password)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FactsFileError(f"{path}: malformed facts file: {exc!r}") from None
    except CasConformanceError as exc:
        raise FactsFileError(f"{path}: malformed facts file: {exc}") from None

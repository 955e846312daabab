"""Save every gathered fact of a run and load it back: audit evidence, offline re-evaluation, and
how xdist workers share the controller's one collection.

The file holds the effective inventory (without any password), the time the facts were gathered
(``now``: a replay judges certificates and chains at that time, never at today's date) and, under
``evidence``, each kind's part as its module saves it (``evidence.registry``): the Exchange
answers, each server's raw collector output (parsed again on load, so a suite upgrade re-reads the
evidence), every DNS answer, TLS chain, revocation answer and HTTP/SMTP probe, and the trust roots
the run used. A replay connects to nothing, so loading takes no password.

Files outlive versions (docs/facts-files.md). A file saved by an earlier version of this schema
either loads or is refused with one line naming the file's schema and this version's and saying to
gather the facts again; never a KeyError or a traceback. Field by field, where the field is loaded:

- a field declared with ``if_absent(default)`` (``domain.facts``) or read with
  ``data.get(key, default)`` (a record's ``from_dict``, a kind's ``load``) may be absent: the file
  loads with the default, which says truly what the earlier version recorded (``probe_email``: the
  checks then name the user the request asked about, as that version did);
- every other field is required: a file that lacks it is refused, naming the missing field by
  its path in the file (``evidence.exchange.servers["cas01.contoso.lab"].certificates[0].thumbprint``).

A new field whose default is meaningful (a check reaches the same verdict with it as the earlier
version would have) is declared to load if absent, and files of this schema keep loading. One the
checks cannot judge without is required, and ``SCHEMA`` changes with it (``cas-conformance/facts/N``
becomes N+1), as it does when a saved field changes its meaning or shape (a missing field is caught
by name, a changed one is not): the old id goes into ``OLD_SCHEMAS`` with its reason, and its files
are refused by their schema, in the same one line.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from cas_conformance.errors import CasConformanceError
from cas_conformance.evidence.codec import MissingField, SavedObject, saved
from cas_conformance.evidence.kind import Loading
from cas_conformance.evidence.model import Evidence
from cas_conformance.evidence.registry import KINDS
from cas_conformance.evidence.view import EvidenceView
from cas_conformance.inventory import parse_inventory
from cas_conformance.inventory.ini_writer import render_inventory
from cas_conformance.run.output_file import write_text_output
from cas_conformance.settings import run_settings

SCHEMA = "cas-conformance/facts/3"
#: files this version cannot read, and why (each refused with that reason)
OLD_SCHEMAS = {
    "cas-conformance/facts/1": "it was written by a suite that read Exchange through the snap-in collector",
    "cas-conformance/facts/2": "it was written before each kind of evidence saved its own part",
}
LOCAL_FILE_VARS = frozenset(
    {"tls_ca_bundle", "ansible_winrm_ca_trust_path", "lab_scenario", "kerberos_config"}
)
#: what a refused file's line ends with
GATHER_AGAIN = "gather the facts again with this version (--save-facts)"
#: what a loader may raise on a malformed part, besides the suite's own errors
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, CasConformanceError)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
    """*evidence* as the facts file *path*: private (mode 0600, it holds what the servers told),
    written beside the path and renamed over it (a link at the path is replaced, not followed)."""
    text = json.dumps(evidence_to_dict(evidence), indent=1, sort_keys=True)
    write_text_output(path, text, private=True)


def save_world(world: EvidenceView, path: str | Path) -> None:
    save_evidence(world.evidence, path)


def evidence_from_dict(data: dict[str, Any], *, source: str = "facts file") -> Evidence:
    """The Evidence a facts file's JSON holds; FactsFileError (one line, starting with *source*)
    when this version cannot replay it."""
    schema = data.get("schema")
    if isinstance(schema, str) and schema in OLD_SCHEMAS:
        raise _refusal(
            source, schema, f"its schema is an old format this version no longer reads: {OLD_SCHEMAS[schema]}"
        )
    if schema != SCHEMA:
        what = "this version does not read its schema (replay it with the version that saved it)"
        raise _refusal(source, schema, what)
    tree = data if isinstance(data, SavedObject) else saved(data)
    part = "the file"
    try:
        inventory = parse_inventory(tree["inventory"], tree.get("inventory_path", "<facts file>"))
        now = datetime.fromisoformat(tree["now"])
        parts: dict[str, Any] = {}
        for kind in KINDS:
            part = f"its {kind.name} evidence"
            parts[kind.name] = kind.load(tree["evidence"][kind.name], Loading(inventory, parts))
        return Evidence(inventory, run_settings(inventory), now=now, **parts)
    except MissingField as exc:
        where = _where(tree, exc.node, exc.key) or f"{exc.key!r} in {part}"
        raise _refusal(source, schema, f"the file lacks {where}, which this version needs") from None
    except _MALFORMED as exc:
        raise _refusal(source, schema, f"{part} is malformed: {_reason(exc)}") from None


def world_from_dict(data: dict[str, Any], *, source: str = "facts file") -> EvidenceView:
    return EvidenceView(evidence_from_dict(data, source=source))


def load_world(path: str | Path) -> EvidenceView:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"), object_pairs_hook=SavedObject)
    except (OSError, ValueError) as exc:
        raise FactsFileError(f"{path}: cannot read facts: {exc}") from None
    if not isinstance(data, dict):
        raise FactsFileError(f"{path}: not a facts file (a JSON object is expected)")
    return world_from_dict(data, source=str(path))


def _refusal(source: str, schema: Any, what: str) -> FactsFileError:
    theirs = f"the file's schema is {schema}" if isinstance(schema, str) else "the file names no schema"
    line = f"{source}: cannot replay: {what} ({theirs}, this version's {SCHEMA}); {GATHER_AGAIN}"
    return FactsFileError(" ".join(line.split()))  # one line, whatever the reason held


def _reason(exc: BaseException) -> str:
    if type(exc) is KeyError:  # a key the loader looked up elsewhere (an inventory host, say)
        return f"it names {exc.args[0]!r}, which is not there"
    return str(exc) or exc.__class__.__name__


def _where(tree: Any, node: Any, key: Any) -> str | None:
    """The path of *key* in *node*, found in *tree* (only when a file is refused)."""
    stack: list[tuple[Any, str]] = [(tree, "")]
    while stack:
        value, path = stack.pop()
        if value is node:
            return _step(path, key)
        if isinstance(value, dict):
            stack.extend((v, _step(path, k)) for k, v in value.items() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value) if isinstance(v, dict | list))
    return None


def _step(path: str, key: Any) -> str:
    if not (isinstance(key, str) and _NAME.fullmatch(key)):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key

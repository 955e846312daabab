"""Every inventory the documentation shows works as shown: each fenced ```ini block of README.md,
CONTRIBUTING.md and docs/**/*.md, ``inventory.ini`` and every ``fixtures/lab/*.ini``, is read with
the suite's own reader (:func:`cas_conformance.inventory.parse_inventory`) and every host's settings
are built (:func:`cas_conformance.settings.host_settings`, ``run_settings``) with a dummy password,
as a run builds them before any connection; it names no variable the suite does not read; a
``lab_scenario`` names a scenario there is. The same holds once any commented variable or host line
(``# ansible_port = 5986``, ``#cas03.contoso.com``) is uncommented, alone or all at once: a reader
who follows the comment gets a working inventory.

In a ``[group:vars]`` section a value runs to the end of the line, ``# comment`` included (as in
Ansible), so a comment after a value breaks it: comments go on lines of their own. A fenced block
that is INI but no inventory (a krb5.conf) is fenced as ``text``, not ``ini``.

Paths are stood in for: a CA bundle or krb5.conf variable (``ansible_winrm_ca_trust_path``,
``tls_ca_bundle``, ``kerberos_config``) must be one word (no ``#``, no space), then points at a real
PEM bundle, since an example's ``/etc/pki/contoso-root.pem`` is not on this machine.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from cas_conformance.domain.secret import Secret
from cas_conformance.errors import InventoryError, LabError
from cas_conformance.inventory import Inventory, VarMapping, parse_inventory
from cas_conformance.lab import resolve_scenario
from cas_conformance.settings import KNOWN_VARIABLES, host_settings, run_settings
from cas_conformance.settings.validate import unknown_variables
from tests.ca_bundle import PEM_BUNDLE

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
INVENTORY_FILES = [ROOT / "inventory.ini", *sorted((ROOT / "fixtures" / "lab").glob("*.ini"))]
PASSWORD = Secret("Secret")
#: variables naming a local file the settings open (a PEM bundle; kerberos_config any readable file)
FILE_VARIABLES = frozenset({"ansible_winrm_ca_trust_path", "tls_ca_bundle", "kerberos_config"})

_FENCE = re.compile(r"(?P<indent>[ \t]*)```ini[ \t]*")
_CLOSE = re.compile(r"[ \t]*```[ \t]*")
_COMMENT = "#;"
# The text of a commented line that is an inventory line once its comment sign goes: a variable
# (``name = value``) or a host, optionally with its variables (``cas03.contoso.com ansible_port=5985``).
_VARIABLE_LINE = re.compile(r"[a-z_][a-z0-9_]*[ \t]*=.*")
_HOST_NAME = r"[A-Za-z0-9_\[\]:-]+(?:\.[A-Za-z0-9_\[\]:-]+)+"
_HOST_LINE = re.compile(rf"{_HOST_NAME}(?:[ \t]+[A-Za-z_][A-Za-z0-9_]*=\S+)*[ \t]*")
_ONE_WORD = re.compile(r"[^\s#;]+")


@dataclasses.dataclass(frozen=True)
class Example:
    """One inventory as the documentation shows it; ``text`` keeps the file's line numbers (the
    lines before the block are blank), so an error names the line of the document."""

    where: str  # README.md:123
    path: Path  # the file it is in: errors name it
    text: str
    base: Path  # where a relative lab_scenario starts: the checkout's root for a document

    def __str__(self) -> str:
        return self.where


def _blocks(document: Path) -> Iterator[Example]:
    lines = document.read_text(encoding="utf-8").splitlines()
    relative = document.relative_to(ROOT).as_posix()
    number = 0
    while number < len(lines):
        fence = _FENCE.fullmatch(lines[number])
        number += 1
        if fence is None:
            continue
        first = number
        body: list[str] = []
        while number < len(lines) and not _CLOSE.fullmatch(lines[number]):
            body.append(lines[number].removeprefix(fence["indent"]))
            number += 1
        number += 1
        yield Example(f"{relative}:{first + 1}", document, "\n" * first + "\n".join(body) + "\n", ROOT)


def _examples() -> list[Example]:
    found = [block for document in DOCUMENTS if document.is_file() for block in _blocks(document)]
    for path in INVENTORY_FILES:
        found.append(
            Example(path.relative_to(ROOT).as_posix(), path, path.read_text(encoding="utf-8"), path.parent)
        )
    return found


EXAMPLES = _examples()


def _uncommented(line: str) -> str | None:
    """The inventory line a commented line holds (``# ansible_port = 5986`` -> ``ansible_port =
    5986``), or None for a comment in words."""
    stripped = line.strip()
    if not stripped or stripped[0] not in _COMMENT:
        return None
    text = stripped.lstrip(_COMMENT).strip()
    return text if _VARIABLE_LINE.fullmatch(text) or _HOST_LINE.fullmatch(text) else None


def variants(text: str) -> list[tuple[str, str]]:
    """The text as written, with each commented inventory line uncommented alone, and with all of
    them uncommented at once."""
    lines = text.split("\n")
    commented = {n: line for n, raw in enumerate(lines) if (line := _uncommented(raw)) is not None}
    found = [("as written", text)]
    for n, line in commented.items():
        found.append((f"line {n + 1} uncommented", "\n".join([*lines[:n], line, *lines[n + 1 :]])))
    if len(commented) > 1:
        every = [commented.get(n, raw) for n, raw in enumerate(lines)]
        found.append(("every commented line uncommented", "\n".join(every)))
    return found


def _stand_in_files(inventory: Inventory, bundle: Path) -> Inventory:
    """*inventory* with each file variable pointing at *bundle*, once its value is one word."""

    def replaced(values: Mapping[str, str], lines: Mapping[str, int]) -> VarMapping:
        new = dict(values)
        for var in FILE_VARIABLES & set(values):
            assert _ONE_WORD.fullmatch(values[var].strip()), (
                f"{inventory.path}:{lines.get(var)}: {var} = {values[var]!r} is not one path: in a "
                "[group:vars] section a value runs to the end of the line (a '# comment' after it is "
                "part of it); put comments on lines of their own"
            )
            new[var] = str(bundle)
        return VarMapping(new)

    hosts = {
        name: dataclasses.replace(host, vars=replaced(host.vars, host.var_lines))
        for name, host in inventory.hosts.items()
    }
    return dataclasses.replace(
        inventory, hosts=hosts, all_vars=replaced(inventory.all_vars, inventory.all_var_lines)
    )


def check_inventory(example: Example, text: str, bundle: Path) -> None:
    """Read *text* as a run reads it before any connection; raise what a run would stop on."""
    inventory = parse_inventory(text, str(example.path))
    unknown = unknown_variables(inventory)
    assert not unknown, "\n".join(unknown)
    scenario = inventory.all_vars.get("lab_scenario")
    if scenario:
        try:
            found = resolve_scenario(scenario, example.base)
        except LabError as exc:
            raise InventoryError(
                inventory.path, inventory.all_var_lines.get("lab_scenario"), str(exc)
            ) from None
        assert found.is_file(), f"{inventory.path}: lab_scenario {scenario!r}: {found} is not a file"
    inventory = _stand_in_files(inventory, bundle)
    run_settings(inventory)
    for host in inventory.hosts.values():
        host_settings(inventory, host, password=PASSWORD)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "contoso-root.pem"
    path.write_text(PEM_BUNDLE, encoding="ascii")
    return path


def test_the_examples_are_found() -> None:
    where = {example.where.split(":")[0] for example in EXAMPLES}
    assert "README.md" in where, "README.md shows no ```ini inventory"
    assert "fixtures/lab/production.example.ini" in where
    assert FILE_VARIABLES <= KNOWN_VARIABLES


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_documented_inventory_works_as_shown(example: Example, bundle: Path) -> None:
    failures: list[str] = []
    for name, text in variants(example.text):
        try:
            check_inventory(example, text, bundle)
        except (InventoryError, AssertionError) as exc:
            failures.append(f"{example.where}, {name}: {exc}")
    assert not failures, "\n".join(failures)


def test_a_comment_after_a_value_is_caught(bundle: Path) -> None:
    """The mistake this guards against: a ``# comment`` after a ``[group:vars]`` value."""
    broken = "cas01.contoso.com\n\n[all:vars]\nansible_winrm_transport = ntlm   # ntlm (default), kerberos\n"
    example = Example("example", ROOT / "example.ini", broken, ROOT)
    with pytest.raises(InventoryError, match="invalid ansible_winrm_transport"):
        check_inventory(example, broken, bundle)
    path = "cas01.contoso.com\n\n[all:vars]\ntls_ca_bundle = /etc/pki/root.pem   # the CA\n"
    with pytest.raises(AssertionError, match="is not one path"):
        check_inventory(dataclasses.replace(example, text=path), path, bundle)


def test_commented_lines_are_uncommented() -> None:
    text = "# An example.\ncas01.contoso.com\n#cas03.contoso.com ansible_port=5985\n[all:vars]\n# ansible_port = 5986\n"
    assert [name for name, _ in variants(text)] == [
        "as written",
        "line 3 uncommented",
        "line 5 uncommented",
        "every commented line uncommented",
    ]
    assert variants(text)[-1][1].splitlines()[2:] == [
        "cas03.contoso.com ansible_port=5985",
        "[all:vars]",
        "ansible_port = 5986",
    ]

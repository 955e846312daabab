"""An inventory that lists no host is a usage error before any connection, as a --limit matching
nothing is: a run that checks nothing must not pass (exit status 4, one line naming the inventory)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cas_conformance.errors import InventoryError
from cas_conformance.inventory.external import ansible_inventory_command
from cas_conformance.inventory.for_run import load_for_run
from tests.report.suite_runs import run_suite


def _dynamic_empty(folder: Path) -> Path:
    script = folder / "dynamic.py"
    script.write_text(f"#!{sys.executable}\nprint('{{}}')\n")
    script.chmod(0o755)
    return script


def test_a_run_of_an_empty_ini_inventory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    empty = pytester.path / "empty.ini"
    empty.write_bytes(b"")
    run = run_suite(pytester, inventory=empty)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.result.stdout.str()
    assert f"{empty}: the inventory lists no host" in run.result.stderr.str()
    assert not (run.reports / "results.json").exists()  # as for --limit matching nothing


@pytest.mark.skipif(
    ansible_inventory_command() is None, reason="ansible-core (the test extra) is not installed"
)
def test_a_dynamic_source_printing_an_empty_inventory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    script = _dynamic_empty(pytester.path)
    run = run_suite(pytester, inventory=script)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.result.stdout.str()
    assert f"{script}: the inventory lists no host" in run.result.stderr.str()


def test_only_a_run_requires_a_host(tmp_path: Path) -> None:
    (tmp_path / "empty.ini").write_bytes(b"")
    source = str(tmp_path / "empty.ini")
    assert not load_for_run(source, environ={}).hosts  # `inventory --list` shows an empty inventory
    with pytest.raises(InventoryError, match="lists no host") as caught:
        load_for_run(source, environ={}, require_hosts=True, limit="anything")
    assert caught.value.path == source

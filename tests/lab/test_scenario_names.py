"""Lab scenarios by name (``healthy``, ``broken``, ``migration``) or by path, in ``lab serve`` and in
an inventory's ``lab_scenario``."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_conformance.errors import LabError
from cas_conformance.inventory import load_inventory
from cas_conformance.lab.scenario.names import is_scenario_name, resolve_scenario, scenario_names
from cas_conformance.locations import scenario_dir

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_in_scenarios_have_names() -> None:
    assert {"healthy", "broken", "migration"} <= set(scenario_names())
    # In a checkout the names are fixtures/lab's files (a wheel carries copies of them).
    assert scenario_dir() == ROOT / "fixtures" / "lab"


@pytest.mark.parametrize("name", ["healthy", "broken", "migration"])
def test_a_name_is_the_scenario_the_package_carries(name: str, tmp_path: Path) -> None:
    assert resolve_scenario(name, tmp_path) == ROOT / "fixtures" / "lab" / f"{name}.toml"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("broken.toml", "base/broken.toml"), ("lab/x.toml", "base/lab/x.toml"), ("./healthy", "base/healthy")],
)
def test_anything_else_is_a_path_relative_to_the_base(value: str, expected: str, tmp_path: Path) -> None:
    assert not is_scenario_name(value)
    assert resolve_scenario(value, tmp_path / "base") == tmp_path / expected


def test_an_absolute_path_stays(tmp_path: Path) -> None:
    assert resolve_scenario(str(tmp_path / "x.toml"), Path("/elsewhere")) == tmp_path / "x.toml"


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"unknown lab scenario 'healty'.*broken, healthy, migration"):
        resolve_scenario("healty", tmp_path)


def test_an_unknown_name_in_an_inventory_is_a_usage_error_at_its_line(pytester: pytest.Pytester) -> None:
    inventory = pytester.path / "lab.ini"
    inventory.write_text("cas01.contoso.lab\n\n[all:vars]\nlab_scenario = healty\n")
    assert load_inventory(inventory).all_var_lines["lab_scenario"] == 4
    result = pytester.runpytest_subprocess("--inventory", str(inventory), "--co")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*{inventory}:4: lab_scenario: unknown lab scenario 'healty'*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()

"""The plugin as users run it: pytest with --inventory against the embedded lab, outputs parsed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.junit import junit_outcomes
from tests.report.suite_runs import BROKEN, HEALTHY, ROOT, SUITE, run_suite


def test_healthy_lab_passes_and_writes_reports(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, inventory=HEALTHY).result
    assert result.ret == 0, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0
    assert outcomes["passed"] > 80
    assert (pytester.path / "reports" / "report.html").stat().st_size > 10_000
    junit = ET.parse(pytester.path / "reports" / "junit.xml").getroot()
    props = {p.get("name") for p in junit.iter("property")}
    assert {"requirement", "severity", "object"} <= props


def test_broken_lab_fails_with_real_remediation(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, inventory=BROKEN).result
    assert result.ret == 1
    out = result.stdout.str()
    assert "test_rpc_client_access_server_is_client_access[DB01]" in out
    assert (
        'Get-MailboxDatabase "DB01" | Set-MailboxDatabase -RpcClientAccessServer outlook.contoso.lab' in out
    )
    junit = (pytester.path / "reports" / "junit.xml").read_text()
    assert "Set-MailboxDatabase -RpcClientAccessServer" in junit


def test_markers_select_by_severity_and_requirement(pytester: pytest.Pytester) -> None:
    result = run_suite(
        pytester, "-m", "requirement(id='OUT-01')", "--collect-only", "-q", inventory=HEALTHY
    ).result
    lines = [line for line in result.stdout.lines if "::" in line]
    assert lines and all("test_rpc_client_access_server_is_client_access" in line for line in lines)
    result = run_suite(pytester, "-m", "warning", "--collect-only", "-q", inventory=HEALTHY).result
    lines = [line for line in result.stdout.lines if "::" in line]
    assert any("test_failback_url_set" in line for line in lines)
    assert not any("test_rpc_client_access_server_is_client_access" in line for line in lines)
    result = run_suite(pytester, "-k", "OWA-03", "--collect-only", "-q", inventory=HEALTHY).result
    lines = [line for line in result.stdout.lines if "::" in line]
    assert lines and all("test_failback_host_resolves_to_its_cas" in line for line in lines)


def test_malformed_inventory_stops_before_any_connection(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "bad.ini"
    bad.write_text("cas01.contoso.lab\n[servers\ncas02\n")
    result = run_suite(pytester, inventory=bad).result
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{bad}:2:" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_missing_inventory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, inventory=pytester.path / "nope.ini").result
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "nope.ini" in result.stderr.str()


def test_unreachable_server_errors_while_the_others_pass(pytester: pytest.Pytester) -> None:
    inventory = pytester.path / "lab-plus-dead.ini"
    lab = HEALTHY.read_text().replace(
        "lab_scenario = fixtures/lab/healthy.toml", f"lab_scenario = {ROOT / 'fixtures/lab/healthy.toml'}"
    )
    # A port nothing listens on: the host is not simulated, so the lab leaves it as given.
    dead = "dead.contoso.lab ansible_host=127.0.0.1 ansible_port=9 winrm_timeout=5 ansible_user=labadmin\n"
    inventory.write_text(dead + lab)
    result = run_suite(pytester, "-rE", inventory=inventory).result
    assert result.ret == 1
    out = result.stdout.str()
    assert "connection refused" in out
    outcomes = result.parseoutcomes()
    assert outcomes["errors"] >= 1 and outcomes.get("failed", 0) == 0
    assert outcomes["passed"] > 80


def test_xdist_gives_the_same_outcome_per_node_id(pytester: pytest.Pytester) -> None:
    common = [
        "--inventory",
        str(BROKEN),
        SUITE,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--html=r.html",
    ]
    serial = pytester.runpytest_subprocess(*common, "--junitxml=serial.xml")
    parallel = pytester.runpytest_subprocess(*common, "--junitxml=parallel.xml", "-n", "4")
    assert serial.ret == parallel.ret == 1
    serial_outcomes = junit_outcomes(pytester.path / "serial.xml")
    assert serial_outcomes == junit_outcomes(pytester.path / "parallel.xml")
    assert "failure" in serial_outcomes.values()

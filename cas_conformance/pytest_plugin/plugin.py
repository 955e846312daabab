"""pytest glue for cas-conformance: options, markers, fact gathering, parametrization, reports.

Holds no Exchange logic: requirements are declared with their checks (``checks``), each case is
judged as ``run.evaluate`` judges it, facts come from ``gather`` (or a facts file). The plugin is active when the run collects the conformance suite
(the ``tests_cas`` test paths) or ``--inventory`` is given; otherwise it stays out of the way.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from cas_conformance.checks import CHECKS, Case, FactsUnavailable, Finding, NotApplicable, requirement
from cas_conformance.domain.catalogue import Severity
from cas_conformance.domain.visible import json_visible, visible, visible_lines
from cas_conformance.errors import CasConformanceError, InventoryError
from cas_conformance.pytest_plugin.rooting import restart_args, runs_the_suite, suite_args, workspace_dir
from cas_conformance.pytest_plugin.state import RunState, is_controller, run_metadata, state_key
from cas_conformance.pytest_plugin.unreachable import COLLAPSER_NAME, UnreachableCollapser, mark_unreachable
from cas_conformance.report.session_reports import SessionReports
from cas_conformance.report.waivers import waive_report
from cas_conformance.run.evaluate import judge

FINDING_KEY = pytest.StashKey[Finding]()
FEEDER_NAME = "cas-conformance-report-feeder"
_exit_hook: list[bool] = []


def _settle() -> None:
    """Move every object so far out of the garbage collector's generations. Done once the facts
    are gathered and again once the tests are collected (they live until the run ends, and the
    dozen full collections of a 200-server run stop walking them); pytest_unconfigure undoes it.
    Also done at interpreter exit, so CPython's final collection skips what the run made (~0.6 s
    after 200 servers): registered with atexit, an in-process run (``pytest.main`` in a
    longer-lived program) keeps collecting as usual until that program's own exit."""
    gc.freeze()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cas-conformance", "Exchange 2010 Client Access conformance")
    group.addoption(
        "--inventory",
        default=None,
        metavar="PATH",
        help="Ansible inventory: INI, YAML or a directory (default: inventory.ini, the built-in lab)",
    )
    group.addoption(
        "--limit",
        default=None,
        metavar="PATTERN",
        help="only the hosts this Ansible host pattern selects (a,b  g:&h  g:!h  web*  ~re  g[0:2]  @file)",
    )
    group.addoption(
        "--vault-password-file",
        default=None,
        metavar="PATH",
        help="decrypt the inventory's Ansible Vault values (else ANSIBLE_VAULT_PASSWORD_FILE)",
    )
    group.addoption(
        "--ask-pass",
        action="store_true",
        default=False,
        help="prompt for the WinRM password (else CAS_CONFORMANCE_PASSWORD)",
    )
    group.addoption(
        "--lab-fault",
        action="append",
        default=[],
        metavar="NAME",
        help="switch a fault on in the embedded lab (repeatable); see python -m cas_conformance.lab faults",
    )
    group.addoption(
        "--forks", type=int, default=64, metavar="N", help="servers collected at the same time (default 64)"
    )
    group.addoption(
        "--progress-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="while servers are being collected, name those not done yet every SECONDS (default 5)",
    )
    group.addoption(
        "--save-facts", default=None, metavar="PATH", help="write every gathered fact to PATH (JSON)"
    )
    group.addoption(
        "--replay-facts",
        default=None,
        metavar="PATH",
        help="run from a facts file instead of contacting anything",
    )
    group.addoption(
        "--reports-dir",
        default=None,
        metavar="DIR",
        help="where results.json and remediation.ps1 go (default: the HTML report's directory, reports/)",
    )
    group.addoption(
        "--baseline",
        default=None,
        metavar="PATH",
        help="results.json of an earlier run: the exit status judges only regressions against it",
    )
    group.addoption(
        "--gate",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="gate policy with --baseline: new-failures=allow lets failing tests absent from the baseline pass",
    )
    group.addoption(
        "--waivers",
        default=None,
        metavar="PATH",
        help="waivers file (TOML; default: waivers.toml next to the inventory, if present)",
    )
    parser.addini(
        "cas_conformance_paths",
        "test paths that hold the conformance suite",
        type="args",
        default=["tests_cas"],
    )


def _active(config: pytest.Config) -> bool:
    return runs_the_suite(config)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | pytest.ExitCode | None:
    """A run of the suite that pytest rooted elsewhere starts again rooted at the suite (see
    ``rooting``): the same ids, options and outcomes however its paths are typed."""
    args = restart_args(config)
    if args is None:
        return None
    return pytest.main(args, plugins=list(config.invocation_params.plugins or ()))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(id): the catalogue requirement a test checks")
    for severity in Severity:
        config.addinivalue_line("markers", f"{severity.value}: requirement severity {severity.value}")
    if not _active(config):
        return
    if not _exit_hook:
        _exit_hook.append(True)
        atexit.register(_settle)
    config.args = suite_args(config)
    state = RunState(config)
    config.stash[state_key] = state
    reports = _reports_dir(config)
    if getattr(config.option, "htmlpath", "unset") is None:
        config.option.htmlpath = str(reports / "report.html")
        config.option.self_contained_html = True
    if getattr(config.option, "xmlpath", "unset") is None and is_controller(config):
        config.option.xmlpath = str(reports / "junit.xml")
    try:
        state.configure_reports(reports)
        state.configure()
    except InventoryError as exc:
        raise pytest.UsageError(visible_lines(str(exc))) from None
    except CasConformanceError as exc:
        raise pytest.UsageError(visible_lines(f"cas-conformance: {exc}")) from None
    if state.reports is not None:
        config.pluginmanager.register(_ReportFeeder(state.reports), FEEDER_NAME)
        config.pluginmanager.register(UnreachableCollapser(state), COLLAPSER_NAME)


def _reports_dir(config: pytest.Config) -> Path:
    """--reports-dir, else the directory of an --html given on the command line, else reports/."""
    invocation = Path(config.invocation_params.dir)
    given = config.getoption("reports_dir")
    if given:
        return Path(invocation, given).resolve()
    html = getattr(config.option, "htmlpath", None)
    if html:
        return Path(invocation, html).parent.resolve()  # the folder: a link at the file is not followed
    return Path(workspace_dir(config), "reports")


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """Run metadata in pytest-metadata's table, which pytest-html shows as its Environment."""
    if _active(config):
        metadata.update(run_metadata(config).display())


def pytest_unconfigure(config: pytest.Config) -> None:
    for name in (FEEDER_NAME, COLLAPSER_NAME):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)
    state = config.stash.get(state_key, None)
    if state is not None:
        state.close()
        gc.unfreeze()  # see _settle: a longer-lived program collects the run's objects again


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(state_key, None)
    if state is not None:
        state.ensure_world()
        _settle()


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.stash.get(state_key, None) is not None:
        _settle()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand every worker the facts gathered once, so no server is asked twice."""
    state = node.config.stash.get(state_key, None)
    if state is not None:
        node.workerinput["cas_conformance_facts"] = state.facts_file_for_workers()


def _requirement_id(node: pytest.Item) -> str | None:
    """The id the ``requirement`` marker of *node* names (positional or ``id=``)."""
    marker = node.get_closest_marker("requirement")
    return None if marker is None else str(marker.args[0] if marker.args else marker.kwargs.get("id"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    req_id = _requirement_id(metafunc.definition)
    if req_id is None or "finding" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash.get(state_key, None)
    if state is None:
        inactive = pytest.mark.skip(reason="cas-conformance is not active: run with --inventory")
        metafunc.parametrize("finding", [pytest.param(None, marks=inactive)], ids=["inactive"], indirect=True)
        return
    spec = CHECKS[req_id]
    cases = spec.cases(state.world)
    state.cases[req_id] = {c.key: c for c in cases}
    metafunc.parametrize("finding", [c.key for c in cases], ids=[c.id for c in cases], indirect=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        req_id = _requirement_id(item)
        if req_id is None:
            continue
        req = requirement(req_id)
        item.add_marker(getattr(pytest.mark, req.severity.value))
        item.add_marker(pytest.mark.requirement(id=req.id))
        item.extra_keyword_matches.add(req.id)
        server = _case_server(item, req.id)
        if server:
            # -k <server> selects every test its matrix row counts, a database's test included
            # (named by the database, DB01, it belongs to the row of the server that hosts it).
            item.extra_keyword_matches.add(server)
        item.user_properties.append(("requirement", req.id))
        item.user_properties.append(("severity", req.severity.value))


def _case_server(item: pytest.Item, req_id: str) -> str:
    """The inventory host of the item's parametrized case, or ''."""
    state = item.config.stash.get(state_key, None)
    callspec = getattr(item, "callspec", None)
    if state is None or callspec is None or "finding" not in callspec.params:
        return ""
    case = state.cases.get(req_id, {}).get(callspec.params["finding"])
    return state.canonical_server(case.server) if case is not None and case.server else ""


@pytest.fixture
def finding(request: pytest.FixtureRequest) -> Finding:
    """The verdict of this test's requirement on its parametrized object, computed at setup so that
    facts that could not be gathered make the test an error, never a pass."""
    state: RunState = request.config.stash[state_key]
    req_id = _requirement_id(request.node)
    assert req_id is not None
    key = request.param
    case: Case | None = state.cases.get(req_id, {}).get(key)
    if case is not None and case.server:
        request.node.user_properties.append(("server", visible(state.canonical_server(case.server))))
    if case is not None and case.error:
        request.node.user_properties.append(("object", visible(case.id)))
    verdict = judge(CHECKS[req_id], state.world, case or Case(key, key))
    without = verdict.without
    if isinstance(without, NotApplicable):
        request.node.user_properties.append(("object", visible(key)))
        request.node.user_properties.extend((name, json_visible(value)) for name, value in without.details)
        pytest.skip(f"{req_id} does not apply: {visible(without.reason)}")
    if without is not None:
        raise without  # FactsUnavailable: the test is an error ("could not check"), never a pass
    result = verdict.finding
    assert result is not None
    if result.server:
        # One name per server in every output: the inventory's (a database's check names its server
        # as Exchange does, MBX01; the terminal, JUnit and results.json all say mbx01.contoso.lab).
        result = dataclasses.replace(result, server=state.canonical_server(result.server))
    request.node.stash[FINDING_KEY] = result
    props = request.node.user_properties
    if not any(k == "server" for k, _ in props):
        props.append(("server", visible(state.canonical_server(result.server))))
    # Report properties (JUnit, results.json, the HTML report's columns) show server text as the
    # message does: control characters as escapes; the remediation keeps its own lines; the
    # details (often JSON, a drift comparison) get JSON escapes, so they parse to the same data.
    shown = [("object", result.object), ("observed", result.observed), ("expected", result.expected)]
    props += [(name, visible(value)) for name, value in shown]
    if not result.passed:
        props.append(("remediation", visible_lines(result.remediation)))
    props.extend((name, json_visible(value)) for name, value in result.details)
    return result


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(state_key, None)
    if state is None:
        return None
    return state.header_lines()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    state = item.config.stash.get(state_key, None)
    if call.excinfo is not None and call.excinfo.errisinstance(FactsUnavailable):
        # the reason comes from a server (its error, a name): one line, control characters visible
        report.longrepr = f"could not check: {visible(str(call.excinfo.value))}"
        if state is not None:
            mark_unreachable(item, report, state)
    if state is not None and state.waivers:
        props = {str(k): str(v) for k, v in item.user_properties}
        waiver = waive_report(report, props, state.waivers, state.today)
        if waiver is not None:
            status = "expired" if waiver.expired(state.today) else "active"
            prop = ("waiver", f"{status}: {waiver.describe()}")
            item.user_properties.append(prop)
            report.user_properties.append(prop)
    return report


class _ReportFeeder:
    """Registered on the controller only: every test's report reaches it (xdist ships the workers'
    reports there), and pytest_runtest_logreport gets no config to find the run's state by."""

    def __init__(self, reports: SessionReports) -> None:
        self.reports = reports

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.add(report)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write results.json and remediation.ps1 and judge the gate, before pytest-html and the
    terminal summary read them; with --baseline the exit status becomes the gate's."""
    state = session.config.stash.get(state_key, None)
    if state is None or state.reports is None or session.config.option.collectonly:
        return
    status = state.reports.finish(int(session.exitstatus))
    if status != session.exitstatus:
        session.exitstatus = pytest.ExitCode(status)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is not None:
        state.terminal_summary(terminalreporter)


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    from cas_conformance.report.html_columns import table_header

    table_header(cells)


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    from cas_conformance.report.html_columns import table_row

    table_row(report, cells)


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report: Any) -> None:
    state = report.config.stash.get(state_key, None)
    if state is None:
        return
    from cas_conformance.report.html_summary import escape_environment

    meta = run_metadata(report.config)
    source = meta.inventory or meta.replay_facts or "?"
    report.title = f"cas-conformance: {Path(source).name}"
    report.set_data("environment", escape_environment(report.data["environment"]))


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: Any
) -> None:
    state = session.config.stash.get(state_key, None)
    if state is not None and state.reports is not None and state.reports.finished:
        prefix.append(state.reports.html_summary())

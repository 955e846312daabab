"""Bad input stops the run before any connection: exit 4, one ``file:line`` message, no traceback,
and a standalone lab the inventory points at counts no request at all."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cas_conformance.inventory import parse_inventory
from cas_conformance.lab import Lab, start_lab
from cas_conformance.settings.validate import unknown_variables
from tests.ca_bundle import der_certificate
from tests.report.suite_runs import HEALTHY, ROOT, SUITE

SCENARIO = ROOT / "fixtures" / "lab" / "healthy.toml"


@dataclass
class Target:
    lab: Lab
    text: str

    def nothing_received(self) -> None:
        stats = self.lab.stats()
        assert {"winrm_commands", "dns_queries", "tls_handshakes", "psrp_cmdlets"} <= set(stats), stats
        assert not any(stats.values()), stats  # every counter the lab keeps, present and future
        assert self.lab.ocsp_requests() == 0


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    """A lab serving on loopback, reached through an inventory it wrote (as `lab serve` does)."""
    lab = start_lab(SCENARIO)
    try:
        yield Target(lab, lab.inventory_text(lab.ca_bundle))
    finally:
        lab.stop()


def _run(pytester: pytest.Pytester, text: str, *args: str, subprocess: bool = False) -> pytest.RunResult:
    inventory = pytester.path / "prod.ini"
    inventory.write_text(text, encoding="utf-8")
    argv = ["--inventory", str(inventory), SUITE, "-p", "no:cacheprovider", "-p", "no:randomly"]
    argv += [f"--html={pytester.path / 'reports' / 'report.html'}", *args]
    return (pytester.runpytest_subprocess if subprocess else pytester.runpytest)(*argv)


def _usage_error(result: pytest.RunResult, where: str, *words: str) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    err = result.stderr.str()
    both = err + result.stdout.str()
    assert "Traceback" not in both and "INTERNALERROR" not in both, both
    lines = [line for line in err.splitlines() if line.startswith("ERROR: ")]
    assert len(lines) == 1, err
    assert where in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("outlook2003_clients = sometimes", ("outlook2003_clients", "none, online, cached")),
        ("winrm_timeout = five", ("winrm_timeout", "positive number of seconds")),
        (
            "ansible_winrm_ca_trust_path = /nonexistent/ca.pem",
            ("ansible_winrm_ca_trust_path", "readable file"),
        ),
        ("outlook2003_encryption = maybe", ("outlook2003_encryption", "enforced, none")),
        ("ansible_winrm_transport = telnet", ("ansible_winrm_transport", "ntlm, kerberos")),
        ("http_timeout = -1", ("http_timeout",)),
        ("polling_registry_key = C:\\nowhere", ("polling_registry_key", "registry path")),
        (
            "winhttp_proxy = http://proxy.contoso.lab:8080",
            ("winhttp_proxy", "a URL is not a WinHTTP proxy (write proxy.contoso.lab:8080)", "host:port"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_value_is_a_usage_error_before_any_connection(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    target: Target,
    line: str,
    words: tuple[str, ...],
) -> None:
    monkeypatch.setenv("CAS_CONFORMANCE_PASSWORD", target.lab.password)
    text = target.text + line + "\n"
    result = _run(pytester, text)
    _usage_error(result, f"prod.ini:{_line_of(text, line)}:", *words)
    target.nothing_received()


@pytest.mark.parametrize("var", ["ansible_winrm_ca_trust_path", "tls_ca_bundle"])
def test_a_der_certificate_as_ca_bundle_is_a_usage_error_before_any_connection(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: Target, var: str
) -> None:
    monkeypatch.setenv("CAS_CONFORMANCE_PASSWORD", target.lab.password)
    der = pytester.path / "root.cer"
    der.write_bytes(der_certificate())
    line = f"{var} = {der}"
    text = target.text + line + "\n"
    result = _run(pytester, text)
    _usage_error(
        result, f"prod.ini:{_line_of(text, line)}:", var, "not a PEM bundle", "openssl x509 -inform der"
    )
    target.nothing_received()


def test_no_password_stops_before_any_connection(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: Target
) -> None:
    monkeypatch.delenv("CAS_CONFORMANCE_PASSWORD", raising=False)
    first = target.text.splitlines()[_line_of(target.text, ".contoso.lab") - 1]
    result = _run(pytester, target.text)
    message = _usage_error(
        result, f"prod.ini:{_line_of(target.text, first)}:", "CAS_CONFORMANCE_PASSWORD", "--ask-pass"
    )
    assert f"no WinRM password for {first}" in message
    target.nothing_received()


def test_ask_pass_without_a_terminal_says_so(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: Target
) -> None:
    monkeypatch.delenv("CAS_CONFORMANCE_PASSWORD", raising=False)
    result = _run(pytester, target.text, "--ask-pass", subprocess=True)
    assert "EOFError" not in result.stderr.str() + result.stdout.str()
    _usage_error(result, "--ask-pass needs a terminal", "CAS_CONFORMANCE_PASSWORD")
    target.nothing_received()


def test_embedded_lab_supplies_its_own_password(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAS_CONFORMANCE_PASSWORD", raising=False)
    result = _run(
        pytester, HEALTHY.read_text().replace("fixtures/lab/healthy.toml", str(SCENARIO)), "--collect-only"
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()


def test_unknown_variable_warns_with_the_closest_name(pytester: pytest.Pytester) -> None:
    text = HEALTHY.read_text().replace(
        "lab_scenario = fixtures/lab/healthy.toml", f"lab_scenario = {SCENARIO}\nwinrm_timout = 5"
    )
    result = _run(pytester, text, "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    out = result.stdout.str()
    assert f"prod.ini:{_line_of(text, 'winrm_timout')}: unknown variable winrm_timout" in out
    assert "did you mean winrm_timeout?" in out


def test_unknown_variables_spare_ansibles_own() -> None:
    text = (
        "cas01.contoso.com ansible_connection=winrm ansible_winrm_trasport=ntlm\n"
        "[all:vars]\n"
        "ansible_winrm_operation_timeout_sec = 60\n"
        "ansible_become = false\n"
        "cert_expiry_days = 20\n"
        "colour = blue\n"
    )
    warnings = unknown_variables(parse_inventory(text, "inv.ini"))
    assert warnings == [
        "inv.ini:1: unknown variable ansible_winrm_trasport: cas-conformance does not read it; "
        "did you mean ansible_winrm_transport?",
        "inv.ini:5: unknown variable cert_expiry_days: cas-conformance does not read it; "
        "did you mean cert_expiry_warning_days?",
        "inv.ini:6: unknown variable colour: cas-conformance does not read it; "
        "see docs/variables.md for the variables it reads",
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--waivers", "missing.toml"), ("missing.toml",)),
        (("--baseline", "missing.json"), ("missing.json",)),
        (("--gate", "nonsense"), ("--gate",)),
        (("--save-facts", "."), ("--save-facts", "is a directory")),
    ],
    ids=["waivers", "baseline", "gate", "save-facts"],
)
def test_bad_option_is_a_usage_error(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    target: Target,
    args: tuple[str, ...],
    words: tuple[str, ...],
) -> None:
    monkeypatch.setenv("CAS_CONFORMANCE_PASSWORD", target.lab.password)
    result = _run(pytester, target.text, *args)
    _usage_error(result, *words)
    target.nothing_received()

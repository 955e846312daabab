"""The lab's face (``cas_conformance.lab``): what it offers, and that code outside the lab's own tests
uses nothing else. Only tests/lab may reach the lab's internals (``cas_conformance.lab.servers.dns``
...); the other tests and the benchmarks import the face, so the lab can change inside freely."""

from __future__ import annotations

import ast
from pathlib import Path

import cas_conformance.lab

ROOT = Path(__file__).resolve().parents[2]
LAB_TESTS = ROOT / "tests" / "lab"
FACE = "cas_conformance.lab"

PUBLIC = [
    # a lab: in this process, from a scenario and faults, or standalone in a child process
    "Lab",
    "start_lab",
    "EmbeddedLab",
    "start_embedded_lab",
    "LabProcess",
    "Scenario",
    "load_scenario",
    "resolve_scenario",
    "FAULTS",
    "raise_open_files_limit",
    # its certificate authority
    "Pki",
    "IssuedCert",
    "KeyType",
    "SignatureHash",
    "generate_key",
    "self_signed",
    # single servers, for the tests of one channel
    "DnsServer",
    "Zone",
    "HttpServer",
    "HttpsServer",
    "HttpHandler",
    "HttpRequest",
    "HttpResponse",
    "PkiHandler",
    "pki_handler",
    "SmtpServer",
    "WinRMServer",
    "CommandRequest",
    "CommandResult",
    "offer_tls_up_to",
    "exchange_powershell",
    "read_collector_command",
    # MIT Kerberos for a lab over Kerberos
    "kdc_programs",
    "KdcUnavailable",
]


def test_the_face_offers_exactly_these_names() -> None:
    assert sorted(cas_conformance.lab.__all__) == sorted(PUBLIC)
    assert len(set(PUBLIC)) == len(PUBLIC)
    missing = [name for name in PUBLIC if not hasattr(cas_conformance.lab, name)]
    assert not missing, missing


def _lab_submodules(path: Path) -> list[str]:
    """Each import in *path* of the lab other than a name of its face, as ``line: module``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == FACE:  # ``from cas_conformance.lab import servers`` is a submodule too
                names = [f"{FACE}.{a.name}" for a in node.names if a.name not in cas_conformance.lab.__all__]
            else:
                names = [node.module]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name.startswith(FACE + ".")]
    return found


def test_only_the_labs_own_tests_import_its_modules() -> None:
    files = [
        path
        for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
        if LAB_TESTS not in path.parents
    ]
    assert len(files) > 50  # the walk found the tests
    offenders = {
        str(path.relative_to(ROOT)): found for path in sorted(files) if (found := _lab_submodules(path))
    }
    assert not offenders, f"import these from {FACE} instead: {offenders}"


def test_the_check_sees_a_submodule_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from cas_conformance.lab import Lab, start_lab\n"
        "from cas_conformance.lab.servers.dns import DnsServer\n"
        "import cas_conformance.lab.pki\n"
        "from cas_conformance.lab import servers\n",
        encoding="utf-8",
    )
    assert _lab_submodules(sample) == [
        "2: cas_conformance.lab.servers.dns",
        "3: cas_conformance.lab.pki",
        "4: cas_conformance.lab.servers",
    ]

"""The lab's MIT KDC: started unprivileged on loopback, real kinit against it, clean errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cas_conformance.errors import LabError
from cas_conformance.lab.auth import kdc as kdc_module
from cas_conformance.lab.auth.kdc import Kdc, KdcError, KdcUnavailable, find_program, realm_for
from cas_conformance.lab.runtime import Lab


def test_realm_of_the_scenario_domain() -> None:
    assert realm_for("contoso.lab") == "CONTOSO.LAB"


def test_kinit_with_the_password_gets_a_ticket(kerberos_lab: Lab, tmp_path: Path) -> None:
    kdc = kerberos_lab.kdc
    assert kdc is not None and kdc.running
    ccache = tmp_path / "ccache"
    result = kdc.kinit("labadmin", kerberos_lab.password, ccache)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(ccache.stat().st_mode) == 0o600
    klist = find_program("klist")
    assert klist is not None
    listed = subprocess.run(
        [klist, "-c", f"FILE:{ccache}"], capture_output=True, text=True, env={**os.environ, **kdc.environ}
    )
    assert "Default principal: labadmin@CONTOSO.LAB" in listed.stdout
    assert "krbtgt/CONTOSO.LAB@CONTOSO.LAB" in listed.stdout


def test_kinit_with_a_wrong_password_fails(kerberos_lab: Lab, tmp_path: Path) -> None:
    assert kerberos_lab.kdc is not None
    result = kerberos_lab.kdc.kinit("labadmin", kerberos_lab.password + "x", tmp_path / "ccache")
    assert result.returncode != 0
    assert b"Password incorrect" in result.stderr
    assert not (tmp_path / "ccache").exists()


def test_kinit_for_an_unknown_user_fails(kerberos_lab: Lab, tmp_path: Path) -> None:
    assert kerberos_lab.kdc is not None
    result = kerberos_lab.kdc.kinit("nobody", "whatever", tmp_path / "ccache")
    assert result.returncode != 0 and b"not found in Kerberos database" in result.stderr


def test_keytab_holds_every_server_spn(kerberos_lab: Lab) -> None:
    kdc = kerberos_lab.kdc
    assert kdc is not None
    klist = find_program("klist")
    assert klist is not None
    listed = subprocess.run([klist, "-k", str(kdc.keytab)], capture_output=True, text=True).stdout
    for server in kerberos_lab.scenario.servers:
        fqdn = server.fqdn(kerberos_lab.scenario.domain)
        assert f"HTTP/{fqdn}@CONTOSO.LAB" in listed
        assert f"WSMAN/{fqdn}@CONTOSO.LAB" in listed
    # The KDC listens on the lab's own loopback address, the password is on no file of the KDC's.
    assert kdc.address == kerberos_lab.addresses["kdc"]
    assert stat.S_IMODE(kdc.keytab.stat().st_mode) == 0o600 and not list(kdc.keytab.parent.glob("part*"))
    assert all(
        kerberos_lab.password.encode() not in path.read_bytes()
        for path in Path(kdc.workdir or "").iterdir()
        if path.is_file()
    )


def test_client_configuration_makes_no_dns_lookups(kerberos_lab: Lab) -> None:
    assert kerberos_lab.kdc is not None
    text = kerberos_lab.kdc.krb5_conf.read_text()
    for setting in (
        "dns_lookup_kdc = false",
        "dns_lookup_realm = false",
        "dns_canonicalize_hostname = false",
    ):
        assert setting in text
    assert f"kdc = {kerberos_lab.addresses['kdc']}:{kerberos_lab.kdc.port}" in text


def test_stop_ends_the_kdc_and_removes_its_files(kerberos_ready: None) -> None:
    with Kdc("EXAMPLE.LAB", users={"u": "p"}, services=["HTTP/a.example.lab"]) as kdc:
        workdir, process = kdc.workdir, kdc._process
        assert workdir is not None and workdir.is_dir() and process is not None
    assert process.poll() is not None and not workdir.exists() and not kdc.running


def test_a_kdc_that_exits_at_start_is_an_error_quoting_its_log(
    kerberos_ready: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = Kdc._create_database

    def create_then_lose_the_database(self: Kdc, programs: dict[str, str]) -> None:
        create(self, programs)
        for path in Path(self.workdir or "").glob("principal*"):
            path.unlink()

    monkeypatch.setattr(Kdc, "_create_database", create_then_lose_the_database)
    kdc = Kdc("BROKEN.LAB")
    with pytest.raises(KdcError) as caught:
        kdc.start()
    assert "exited at start" in str(caught.value)
    assert "BROKEN.LAB" in str(caught.value)  # from the KDC's own messages
    assert kdc.workdir is None  # cleaned up


def test_missing_programs_name_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kdc_module, "find_program", lambda name: None)
    with pytest.raises(KdcUnavailable) as caught:
        Kdc("EXAMPLE.LAB").start()
    message = str(caught.value)
    assert "krb5kdc" in message and "apt-get install krb5-kdc" in message and ".[kerberos]" in message


def test_bad_names_are_refused() -> None:
    with pytest.raises(LabError):
        Kdc("BAD REALM")
    with pytest.raises(LabError):
        Kdc("OK.LAB", users={"a@b": "x"})
    with pytest.raises(LabError):
        Kdc("OK.LAB", address="192.0.2.1")


def test_a_kdc_nobody_stopped_ends_with_python(kerberos_ready: None, tmp_path: Path) -> None:
    script = "from cas_conformance.lab.auth.kdc import Kdc\nk = Kdc('FORGOTTEN.LAB').start()\nprint(k._process.pid, k.workdir)\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid, workdir = result.stdout.split()
    assert not Path(workdir).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)

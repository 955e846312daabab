"""``python -m cas_conformance.lab serve --kerberos``: the written inventory reaches the lab over
Kerberos, and a real ``kinit`` works with the krb5.conf it names."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cas_conformance.inventory import load_inventory
from cas_conformance.lab.auth.kdc import find_program
from cas_conformance.lab.process import LabProcess

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Standalone-Kerberos-Pw1"


def test_standalone_lab_hands_out_its_realm(kerberos_ready: None, tmp_path: Path) -> None:
    lab = LabProcess(
        ROOT / "fixtures/lab/healthy.toml",
        tmp_path / "lab.ini",
        cwd=ROOT,
        start_timeout=60,
        args=["--password", PASSWORD, "--kerberos"],
    )
    with lab:
        inventory = load_inventory(lab.inventory)
        variables = inventory.all_vars
        assert variables["ansible_winrm_transport"] == "kerberos"
        assert variables["ansible_user"] == "labadmin@CONTOSO.LAB"
        krb5_conf = Path(variables["kerberos_config"])
        assert "default_realm = CONTOSO.LAB" in krb5_conf.read_text()
        assert any(line.startswith("kerberos realm CONTOSO.LAB, KDC 127.") for line in lab.lines)
        assert any("CONTOSO\\labadmin (labadmin@CONTOSO.LAB)" in line for line in lab.lines), lab.lines
        kinit = find_program("kinit")
        assert kinit is not None
        ccache = tmp_path / "ccache"
        environ = {"PATH": os.environ["PATH"], "KRB5_CONFIG": str(krb5_conf), "KRB5CCNAME": f"FILE:{ccache}"}
        good = subprocess.run(
            [kinit, "labadmin@CONTOSO.LAB"],
            input=PASSWORD + "\n",
            env=environ,
            capture_output=True,
            text=True,
        )
        assert good.returncode == 0, good.stderr
        bad = subprocess.run(
            [kinit, "labadmin@CONTOSO.LAB"], input="wrong\n", env=environ, capture_output=True, text=True
        )
        assert bad.returncode != 0 and "Password incorrect" in bad.stderr
        assert PASSWORD not in lab.inventory.read_text() and PASSWORD not in "".join(lab.lines)
    assert lab.stop() == 0
    assert not krb5_conf.exists()  # the KDC's directory goes with the lab

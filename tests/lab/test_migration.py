"""A migration in progress: an Exchange 2013 server beside the 2010 ones gives no failure, and the
Exchange 2010 checks skip that server with the reason."""

from __future__ import annotations

from cas_conformance.checks import CHECKS, REQUIREMENTS
from cas_conformance.domain.catalogue import Subject
from tests.lab.conftest import ROOT, run_lab

MIGRATION = ROOT / "fixtures" / "lab" / "migration.toml"


def test_exchange_2013_server_is_skipped_with_reason_and_nothing_fails() -> None:
    verdicts = run_lab(scenario=MIGRATION)
    bad = [
        f"{v.requirement}[{v.case}] {v.outcome}: {v.detail}"
        for v in verdicts
        if v.outcome in ("failed", "error")
    ]
    assert not bad, "\n".join(bad)
    on_2013 = [v for v in verdicts if v.case.startswith("ex2013")]
    skipped = {v.requirement for v in on_2013 if v.outcome == "skipped"}
    # every Exchange 2010 requirement about the server itself, and the version check
    per_server = {Subject.SERVER, Subject.CAS, Subject.CLIENT_ACCESS, Subject.CERTIFICATE}
    only_2010 = {r.id for r in REQUIREMENTS if r.only_2010 and CHECKS[r.id].subject in per_server}
    server_scoped = only_2010 | {"VER-01"}
    assert server_scoped <= skipped, sorted(server_scoped - skipped)
    assert all("Exchange 2013 or later" in v.detail for v in on_2013 if v.outcome == "skipped")
    assert not [v for v in on_2013 if v.outcome == "passed" and v.requirement in server_scoped]
    # The 2010 servers are still checked as usual.
    passed = {v.requirement for v in verdicts if v.outcome == "passed"}
    assert passed == {r.id for r in REQUIREMENTS}

"""Run metadata: the inventory's SHA-256, and never a password (not even as a guessable hash)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from cas_conformance.report.run_metadata import REDACTED_NOTE, collect_run_metadata, file_sha256


def test_hash_is_the_file_hash_without_passwords(tmp_path: Path) -> None:
    plain = tmp_path / "plain.ini"
    plain.write_text("cas01.contoso.com\n[all:vars]\nansible_user = CONTOSO\\svc\n")
    assert file_sha256(plain) == (hashlib.sha256(plain.read_bytes()).hexdigest(), False)
    one = tmp_path / "one.ini"
    two = tmp_path / "two.ini"
    one.write_text("cas01 ansible_password='S3cret one' x=1\n[all:vars]\nansible_password = S3cret!\n")
    two.write_text("cas01 ansible_password='other' x=1\n[all:vars]\nansible_password = different\n")
    sha_one, masked_one = file_sha256(one)
    sha_two, masked_two = file_sha256(two)
    assert masked_one and masked_two and sha_one == sha_two  # the hash does not depend on the password
    assert file_sha256(tmp_path / "missing.ini") == (None, False)


def test_metadata_names_inventory_runner_and_user(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text("cas01\n[all:vars]\nansible_password = pw-4711\n")
    meta = collect_run_metadata(
        inventory="inv.ini",
        replay_facts=None,
        lab_faults=("ews-404",),
        base_dir=tmp_path,
        now=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=timezone.utc),
    )
    shown = meta.display()
    assert shown["Inventory"] == "inv.ini" and shown["Lab faults"] == "ews-404"
    assert shown["Inventory SHA-256"].endswith(f"({REDACTED_NOTE})")
    assert meta.to_json()["start_time"] == "2026-01-02T03:04:05+00:00"
    assert "pw-4711" not in repr(meta) + repr(meta.to_json()) + repr(shown)

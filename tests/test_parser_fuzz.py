"""Parsers of untrusted input either parse or raise the project's own error, never another
exception: certificates from servers (chains, trust bundles), netsh text, facts files."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cas_conformance.channels.tls import TrustStoreError, load_trust_roots, verify_chain
from cas_conformance.domain.winhttp import WinHttpSettingsError, parse_netsh_show_proxy
from cas_conformance.errors import CasConformanceError
from cas_conformance.lab import Pki
from cas_conformance.run.facts_file import FactsFileError, load_world

NOW = datetime.now(timezone.utc)
_PKI = Pki.generate("Fuzz", ocsp_url="http://ocsp.fuzz.lab/ocsp", crl_base_url="http://pki.fuzz.lab/crl")
_LEAF = _PKI.issue(["www.fuzz.lab"], not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=30))
_LEAF_DER = _LEAF.cert.public_bytes(Encoding.DER)
_INTERMEDIATE_PEM = _PKI.intermediate.public_bytes(Encoding.PEM).decode()


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=0, max_size=len(_LEAF_DER)), st.integers(min_value=0, max_value=len(_LEAF_DER)))
def test_a_corrupted_leaf_is_a_problem_not_a_crash(patch: bytes, offset: int) -> None:
    der = _LEAF_DER[:offset] + patch + _LEAF_DER[offset + len(patch) :]
    verdict = verify_chain([_pem(der), _INTERMEDIATE_PEM], "www.fuzz.lab", trust_roots=[_PKI.root], at=NOW)
    if der != _LEAF_DER:
        assert not verdict.ok or verdict.leaf_subject is not None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=3), st.text(max_size=60))
def test_arbitrary_chain_text_never_raises(chain: list[str], name: str) -> None:
    verdict = verify_chain(chain, name or "x", trust_roots=[_PKI.root], at=NOW)
    assert isinstance(verdict.ok, bool)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_trust_bundle_is_certificates_or_our_error(tmp_path: Path, content: bytes) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(content)
    try:
        roots = load_trust_roots(str(bundle))
    except TrustStoreError:
        return
    assert isinstance(roots, list)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_netsh_text_parses_or_raises_our_error(text: str) -> None:
    try:
        proxy, bypass = parse_netsh_show_proxy(text)
    except WinHttpSettingsError:
        return
    assert proxy is None or isinstance(proxy, str)
    assert isinstance(bypass, tuple)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=500),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
            ),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "schema": st.sampled_from(
                    ["cas-conformance/facts/3", "cas-conformance/facts/2", "cas-conformance/facts/1"]
                )
            },
            optional={
                "inventory": st.text(max_size=80),
                "now": st.text(max_size=30),
                "evidence": st.dictionaries(
                    st.sampled_from(["exchange", "os", "dns", "http", "tls", "revocation", "smtp"]),
                    st.dictionaries(
                        st.text(max_size=8), st.text(max_size=8) | st.lists(st.text(max_size=8), max_size=3)
                    ),
                ),
                "servers": st.dictionaries(
                    st.text(max_size=8), st.dictionaries(st.text(max_size=8), st.text(max_size=8))
                ),
            },
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_facts_file_loads_or_raises_our_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "facts.json"
    path.write_bytes(content)
    try:
        load_world(path)
    except (FactsFileError, CasConformanceError):
        return


def test_the_fuzzed_leaf_is_valid_when_untouched() -> None:
    verdict = verify_chain(
        [_pem(_LEAF_DER), _INTERMEDIATE_PEM], "www.fuzz.lab", trust_roots=[_PKI.root], at=NOW
    )
    assert verdict.ok, verdict.problems
    with pytest.raises(ValueError):
        verify_chain([_pem(_LEAF_DER)], "www.fuzz.lab", trust_roots=[_PKI.root], at=NOW.replace(tzinfo=None))

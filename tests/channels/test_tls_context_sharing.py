"""One TLS context per trust, shared by every session: the CA file is loaded once, not by urllib3
at every new connection (a context costs about a megabyte and milliseconds to build)."""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace

from requests.utils import DEFAULT_CA_BUNDLE_PATH

from cas_conformance.channels import tls_client
from cas_conformance.channels.dialer import Dialer


def _conn() -> SimpleNamespace:
    return SimpleNamespace(ca_certs=None, ca_cert_dir=None, cert_reqs=None, cert_file=None, key_file=None)


def test_sessions_with_the_same_trust_share_one_context(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(DEFAULT_CA_BUNDLE_PATH).read_bytes())
    first = tls_client.client_context(verify=True, ca_path=str(bundle))
    assert tls_client.client_context(verify=True, ca_path=str(bundle)) is first
    assert tls_client.client_context(verify=True) is not first
    assert tls_client.client_context(verify=False).verify_mode == ssl.CERT_NONE
    bundle.write_bytes(bundle.read_bytes() + b"\n")  # a changed file is loaded again
    assert tls_client.client_context(verify=True, ca_path=str(bundle)) is not first


def test_requests_does_not_load_the_trust_again_per_connection(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(DEFAULT_CA_BUNDLE_PATH).read_bytes())
    adapter = tls_client.ContextAdapter(
        Dialer(None), tls_client.client_context(verify=True, ca_path=str(bundle))
    )
    conn = _conn()
    adapter.cert_verify(conn, "https://ex01.contoso.lab/", str(bundle), None)
    assert conn.cert_reqs == "CERT_REQUIRED" and conn.ca_certs is None  # the context holds it


def test_other_trust_than_the_contexts_is_still_loaded_by_requests(tmp_path: Path) -> None:
    """A session whose verify names another bundle keeps requests' own behaviour: nothing lost."""
    adapter = tls_client.ContextAdapter(Dialer(None), tls_client.client_context(verify=True))
    conn = _conn()
    other = tmp_path / "other.pem"
    other.write_bytes(Path(DEFAULT_CA_BUNDLE_PATH).read_bytes())
    adapter.cert_verify(conn, "https://ex01.contoso.lab/", str(other), None)
    assert conn.ca_certs == str(other)
    default = _conn()
    adapter.cert_verify(default, "https://ex01.contoso.lab/", True, None)
    assert default.ca_certs is None  # certifi's bundle is what the default context holds

"""The lab's Kerberos acceptor (``Negotiate`` with SPNEGO or a raw Kerberos token, and ``Kerberos``):
mutual authentication per connection, message sealing with each scheme's own protocol, refusals,
delegation and concurrent handshakes, against a real pyspnego client and the lab's KDC."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import spnego

from cas_conformance.lab.auth.kerberos import AcceptedContext, KerberosKeytab
from cas_conformance.lab.auth.ntlm import (
    KERBEROS_ENCRYPTED_PROTOCOL,
    ConnectionAuthenticator,
    LabUsers,
    decrypt_message,
    encrypt_message,
)
from cas_conformance.lab.runtime import Lab

HOST = "cas01.contoso.lab"


@pytest.fixture
def client_config(kerberos_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    assert kerberos_lab.kdc is not None
    monkeypatch.setenv("KRB5_CONFIG", str(kerberos_lab.kdc.krb5_conf))


@pytest.fixture
def users(kerberos_lab: Lab) -> LabUsers:
    return LabUsers({kerberos_lab.user: kerberos_lab.password})


def _client(lab: Lab, protocol: str = "kerberos", host: str = HOST) -> spnego.ContextProxy:
    return spnego.client(
        "labadmin@CONTOSO.LAB", lab.password, hostname=host, service="HTTP", protocol=protocol
    )


def _keytab(lab: Lab) -> KerberosKeytab:
    assert lab.kdc is not None
    return KerberosKeytab(lab.kdc.keytab)


@pytest.mark.parametrize("protocol", ["kerberos", "negotiate"])
def test_acceptor_authenticates_the_connection_mutually(
    kerberos_lab: Lab, client_config: None, users: LabUsers, protocol: str
) -> None:
    auth = ConnectionAuthenticator(users, tls=False, kerberos=_keytab(kerberos_lab))
    client = _client(kerberos_lab, protocol)
    outcome = auth.authenticate("Negotiate " + base64.b64encode(client.step() or b"").decode())
    assert outcome.user == "labadmin@CONTOSO.LAB"
    assert outcome.answer is not None and outcome.answer.startswith("Negotiate ")
    client.step(base64.b64decode(outcome.answer.split()[1]))
    assert client.complete
    assert auth.authenticate(None).user == "labadmin@CONTOSO.LAB"  # the connection stays authenticated
    context = auth.context
    assert context is not None
    sealed = encrypt_message(client, b"<s:Envelope/>")
    assert decrypt_message(context, sealed) == b"<s:Envelope/>"
    assert b"Envelope" not in sealed


def test_kerberos_scheme_seals_with_its_own_protocol(
    kerberos_lab: Lab, client_config: None, users: LabUsers
) -> None:
    auth = ConnectionAuthenticator(users, tls=True, kerberos=_keytab(kerberos_lab))
    assert auth.offers == ("Negotiate", "Kerberos", 'Basic realm="WSMAN"')
    client = _client(kerberos_lab)
    outcome = auth.authenticate("Kerberos " + base64.b64encode(client.step() or b"").decode())
    assert outcome.user and outcome.answer and outcome.answer.startswith("Kerberos ")
    assert auth.encryption_protocol == KERBEROS_ENCRYPTED_PROTOCOL
    context = auth.context
    assert context is not None
    client.step(base64.b64decode(outcome.answer.split()[1]))
    reply = encrypt_message(context, b"answer", KERBEROS_ENCRYPTED_PROTOCOL)
    assert decrypt_message(client, reply, KERBEROS_ENCRYPTED_PROTOCOL) == b"answer"


def test_replayed_garbage_and_unknown_tickets_get_401(
    kerberos_lab: Lab, client_config: None, users: LabUsers
) -> None:
    keytab = _keytab(kerberos_lab)
    token = "Negotiate " + base64.b64encode(_client(kerberos_lab).step() or b"").decode()
    assert ConnectionAuthenticator(users, tls=False, kerberos=keytab).authenticate(token).user
    replayed = ConnectionAuthenticator(users, tls=False, kerberos=keytab).authenticate(token)
    assert replayed.user is None and replayed.challenges == ("Negotiate", "Kerberos")
    garbage = ConnectionAuthenticator(users, tls=False, kerberos=keytab).authenticate("Negotiate YWJjZA==")
    assert garbage.user is None
    fresh = "Negotiate " + base64.b64encode(_client(kerberos_lab).step() or b"").decode()
    no_keytab = ConnectionAuthenticator(users, tls=False).authenticate(fresh)  # a server without the SPN
    assert no_keytab.user is None and no_keytab.challenges == ("Negotiate",)


@pytest.mark.parametrize("delegate", [False, True])
def test_delegation_forwards_the_ticket_only_when_asked(
    kerberos_lab: Lab, client_config: None, users: LabUsers, delegate: bool
) -> None:
    flags = spnego.ContextReq.default | (spnego.ContextReq.delegate if delegate else 0)
    client = spnego.client(
        "labadmin@CONTOSO.LAB", kerberos_lab.password, hostname=HOST, service="HTTP", context_req=flags
    )
    auth = ConnectionAuthenticator(users, tls=False, kerberos=_keytab(kerberos_lab))
    assert auth.authenticate("Negotiate " + base64.b64encode(client.step() or b"").decode()).user
    context = auth.context
    assert isinstance(context, AcceptedContext) and context.delegated is delegate


def test_concurrent_handshakes_on_one_keytab_all_succeed(
    kerberos_lab: Lab, client_config: None, users: LabUsers
) -> None:
    keytab = _keytab(kerberos_lab)
    tokens = ["Negotiate " + base64.b64encode(_client(kerberos_lab).step() or b"").decode() for _ in range(8)]
    barrier = threading.Barrier(len(tokens))

    def accept(token: str) -> str | None:
        auth = ConnectionAuthenticator(users, tls=False, kerberos=keytab)
        barrier.wait(timeout=30)
        return auth.authenticate(token).user

    with ThreadPoolExecutor(len(tokens)) as pool:
        assert list(pool.map(accept, tokens)) == ["labadmin@CONTOSO.LAB"] * len(tokens)

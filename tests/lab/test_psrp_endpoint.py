"""The lab's Exchange remote PowerShell against the suite's PSRP channel (pypsrp), over real loopback
sockets: Basic over HTTPS to ``https://cas01.contoso.lab/PowerShell/``, the lab's CA trusted, every
cmdlet's objects in Exchange 2010's shapes, the restricted runspace's real errors, the counters."""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from cas_conformance.channels.dialer import Dialer
from cas_conformance.channels.psrp import Cmdlet, ExchangeSession, PsrpTarget, RemoteObject
from cas_conformance.errors import CollectionError
from cas_conformance.evidence.exchange import psrp_target
from cas_conformance.inventory import parse_inventory
from cas_conformance.lab.runtime import Lab
from cas_conformance.settings import Secret, host_settings
from cas_conformance.settings.connect_to import parse_connect_to

CAS = "cas01.contoso.lab"
ORG = "Microsoft.Exchange.Data.Directory"


def _dialer(lab: Lab, name: str = CAS) -> Dialer:
    ip = lab.server_address(name) or lab.address_of(name)
    return Dialer(
        None, parse_connect_to(f"{name}:443:{ip}:{lab.ports['https']},{name}:80:{ip}:{lab.ports['http']}")
    )


def _target(lab: Lab, **changes: object) -> PsrpTarget:
    values: dict[str, object] = {
        "host": CAS,
        "user": lab.user,
        "password": Secret(lab.password),
        "ca_trust_path": str(lab.ca_bundle),
    }
    values.update(changes)
    return PsrpTarget(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def session(lab: Lab) -> Iterator[ExchangeSession]:
    with ExchangeSession(_target(lab), _dialer(lab)) as opened:
        yield opened


def _one(session: ExchangeSession, name: str, **params: object) -> RemoteObject:
    objects = session.run(Cmdlet(name, params))
    assert len(objects) == 1, objects
    return objects[0]


def test_exchange_servers_as_exchange_2010_serializes_them(session: ExchangeSession) -> None:
    servers = {o["Name"]: o for o in session.run(Cmdlet("Get-ExchangeServer"))}
    assert set(servers) == {"CAS01", "CAS02", "MBX01", "EX01"}
    ex01 = servers["EX01"]
    assert ex01.type_names[0] == f"{ORG}.Management.ExchangeServer" and ex01.type_names[-1] == "System.Object"
    assert ex01.deserialized_type_names[0] == f"Deserialized.{ORG}.Management.ExchangeServer"
    assert str(ex01) == "EX01" and ex01["Fqdn"] == "ex01.contoso.lab"
    assert str(ex01["ServerRole"]) == "Mailbox, ClientAccess, HubTransport"
    assert ex01["ServerRole"].type_names[:2] == (f"{ORG}.SystemConfiguration.ServerRole", "System.Enum")
    assert str(ex01["Site"]) == "contoso.lab/Configuration/Sites/DR" and ex01["Site"]["Name"] == "DR"
    assert str(ex01["Identity"]) == "EX01"
    version = ex01["AdminDisplayVersion"]
    assert str(version) == "Version 14.3 (Build 123.4)" and (version["Major"], version["Minor"]) == (14, 3)
    assert ex01["IsClientAccessServer"] is True and servers["MBX01"]["IsClientAccessServer"] is False
    assert ex01["ObjectClass"].items == ("top", "server", "msExchExchangeServer")
    assert dt.datetime.fromisoformat(ex01["WhenCreatedUTC"].replace("Z", "+00:00")).tzinfo is not None


def test_databases_arrays_and_client_access_servers(session: ExchangeSession) -> None:
    outcomes = session.run_all(
        [
            Cmdlet(n)
            for n in (
                "Get-MailboxDatabase",
                "Get-PublicFolderDatabase",
                "Get-ClientAccessArray",
                "Get-ClientAccessServer",
            )
        ]
    )
    mailbox, public, arrays, cas = (o.result(CAS) for o in outcomes)
    db01 = next(d for d in mailbox if d["Name"] == "DB01")
    assert db01.type_names[0] == f"{ORG}.SystemConfiguration.MailboxDatabase"
    assert db01["RpcClientAccessServer"] == "outlook.contoso.lab" and str(db01["Server"]) == "MBX01"
    assert [str(p["Server"]) for p in public] == ["EX01"]
    assert public[0].type_names[0] == f"{ORG}.SystemConfiguration.PublicFolderDatabase"
    (array,) = arrays
    assert (
        array["Fqdn"] == "outlook.contoso.lab" and str(array["Site"]) == "contoso.lab/Configuration/Sites/HQ"
    )
    assert [str(m) for m in array["Members"].items] == ["CAS01", "CAS02"]
    assert array["Members"].type_names[0].startswith("Microsoft.Exchange.Data.MultiValuedProperty`1[[")
    assert {str(c) for c in cas} == {"CAS01", "CAS02", "EX01"}
    assert (
        cas[0]["AutoDiscoverServiceInternalUri"]
        == "https://autodiscover.contoso.lab/Autodiscover/Autodiscover.xml"
    )


@pytest.mark.parametrize(
    ("noun", "name", "internal"),
    [
        ("Owa", "owa", "https://cas01.contoso.lab/owa"),
        ("Ecp", "ecp", "https://cas01.contoso.lab/ecp"),
        ("WebServices", "EWS", "https://cas01.contoso.lab/EWS/Exchange.asmx"),
        (
            "ActiveSync",
            "Microsoft-Server-ActiveSync",
            "https://cas01.contoso.lab/Microsoft-Server-ActiveSync",
        ),
        ("Oab", "OAB", "http://cas01.contoso.lab/OAB"),
        ("Autodiscover", "Autodiscover", None),
    ],
)
def test_virtual_directories_per_server(
    session: ExchangeSession, noun: str, name: str, internal: str
) -> None:
    vdir = _one(session, f"Get-{noun}VirtualDirectory", Server="CAS01", ADPropertiesOnly=True)
    assert str(vdir) == f"CAS01\\{name} (Default Web Site)" and vdir["Name"] == f"{name} (Default Web Site)"
    assert vdir["InternalUrl"] == internal and str(vdir["Server"]) == "CAS01"
    assert vdir.type_names[-1] == "System.Object" and vdir.type_names[0].startswith(
        f"{ORG}.SystemConfiguration.AD"
    )
    methods = vdir["InternalAuthenticationMethods"]
    assert methods.items and all(
        m.type_names[0] == f"{ORG}.SystemConfiguration.AuthenticationMethod" for m in methods.items
    )
    if noun == "Owa":
        assert vdir["FailbackUrl"] == "https://failback-cas01.contoso.lab/owa"
        assert vdir["ExternalUrl"] == "https://mail.contoso.lab/owa" and [str(m) for m in methods.items] == [
            "Basic",
            "Fba",
        ]
    if noun == "Autodiscover":
        assert vdir["ExternalUrl"] is None  # <Nil/> when unset, as the samples show


def test_rpc_client_access_outlook_anywhere_and_certificates(session: ExchangeSession) -> None:
    rpc = _one(session, "Get-RpcClientAccess", Server="CAS01")
    assert rpc["EncryptionRequired"] is False and str(rpc["Server"]) == "CAS01"
    oa = _one(session, "Get-OutlookAnywhere", Server="CAS01")
    assert (
        str(oa["ExternalHostname"]) == "mail.contoso.lab" and str(oa["ClientAuthenticationMethod"]) == "Basic"
    )
    assert [str(m) for m in oa["IISAuthenticationMethods"].items] == ["Basic", "Ntlm"] and oa[
        "SSLOffloading"
    ] is False
    assert session.run(Cmdlet("Get-OutlookAnywhere", {"Server": "EX01"})) == ()  # not enabled: no object
    assert session.run(Cmdlet("Get-RpcClientAccess", {"Server": "MBX01"})) == ()
    # over the wire an ExchangeCertificate is its X509Certificate2 base: raw data only
    wire = session.run(Cmdlet("Get-ExchangeCertificate", {"Server": "CAS01"}))
    assert {o.type_names[0] for o in wire} == {
        "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate"
    }
    assert all(set(o.properties) == {"RawData"} for o in wire)
    subjects = {x509.load_der_x509_certificate(o["RawData"]).subject.rfc4514_string() for o in wire}
    assert "CN=CAS01" in subjects
    picked = session.run(
        Cmdlet(
            "Get-ExchangeCertificate",
            {"Server": "CAS01"},
            select=("Thumbprint", "Services", "Status", "NotAfter", "CertificateDomains"),
        )
    )
    by_services = {str(o["Services"]): o for o in picked}
    assert set(by_services) == {"IMAP, POP, SMTP", "IIS, SMTP"}
    published = by_services["IIS, SMTP"]
    assert (
        published.type_names[0]
        == "Selected.Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate"
    )
    assert str(published["Status"]) == "Valid" and "mail.contoso.lab" in published["CertificateDomains"].items
    assert published["Thumbprint"] in {hashlib.sha1(o["RawData"]).hexdigest().upper() for o in wire}


def test_a_script_and_an_unknown_cmdlet_get_the_real_errors(lab: Lab) -> None:
    ip = lab.server_address(CAS)
    wsman = WSMan(
        str(ip),
        port=lab.ports["https"],
        path="PowerShell",
        auth="basic",
        username=lab.user,
        password=lab.password,
        cert_validation=False,
    )
    with RunspacePool(wsman, configuration_name="Microsoft.Exchange") as pool:
        script = PowerShell(pool)
        script.add_script("Get-ExchangeServer | Where-Object { $_.IsClientAccessServer }")
        assert script.invoke() == [] and script.had_errors
        (error,) = script.streams.error
        assert (
            str(error)
            == "The syntax is not supported by this runspace. This might be because it is in no-language mode."
        )
        assert error.fq_error == "ScriptsNotAllowed"
    with ExchangeSession(_target(lab), _dialer(lab)) as session:
        (outcome,) = session.run_all([Cmdlet("Get-Mailbox")])
        assert outcome.objects == () and "CommandNotFoundException" in outcome.errors[0]
        assert "The term 'Get-Mailbox' is not recognized as the name of a cmdlet" in outcome.errors[0]
        with pytest.raises(CollectionError, match=r"Get-Mailbox: not in the Exchange runspace"):
            session.run(Cmdlet("Get-Mailbox"))
        with pytest.raises(CollectionError, match=r"couldn't be found on 'dc01.contoso.lab'"):
            session.run(Cmdlet("Get-OwaVirtualDirectory", {"Server": "NOSUCH"}))
        with pytest.raises(
            CollectionError, match=r"A parameter cannot be found that matches parameter name 'Bogus'"
        ):
            session.run(Cmdlet("Get-ExchangeServer", {"Bogus": "x"}))


def test_channel_refuses_a_script_before_sending_it() -> None:
    with pytest.raises(ValueError, match="not a cmdlet name"):
        Cmdlet("Get-ExchangeServer | Where-Object { $_ }")


def test_wrong_password_is_a_clear_401(lab: Lab) -> None:
    with pytest.raises(CollectionError) as caught:
        ExchangeSession(_target(lab, password=Secret("not-the-password")), _dialer(lab)).open()
    assert "authentication failed (HTTP 401)" in caught.value.reason and "not-the-password" not in str(
        caught.value
    )
    assert caught.value.channel == "exchange-powershell" and caught.value.server == CAS


def test_basic_over_plain_http_is_refused_by_the_endpoint(lab: Lab) -> None:
    with pytest.raises(CollectionError, match="only allowed over HTTPS"):
        ExchangeSession(_target(lab, scheme="http"), _dialer(lab))


def test_untrusted_and_wrong_name_tell_what_to_fix(lab: Lab) -> None:
    with pytest.raises(
        CollectionError, match=r"not trusted: add its issuing CA to ansible_winrm_ca_trust_path"
    ):
        ExchangeSession(_target(lab, ca_trust_path=None), _dialer(lab)).open()
    # mbx01 is no CAS and not on the published certificate: reach CAS01's address under that name
    ip = lab.server_address(CAS)
    dialer = Dialer(None, parse_connect_to(f"mbx01.contoso.lab:443:{ip}:{lab.ports['https']}"))
    with pytest.raises(CollectionError, match=r"TLS name mismatch: the certificate of mbx01.contoso.lab"):
        ExchangeSession(_target(lab, host="mbx01.contoso.lab"), dialer).open()


def test_unreachable_names_scheme_host_and_port(lab: Lab) -> None:
    dialer = Dialer(None, parse_connect_to(f"{CAS}:443:{lab.address_of('proxy')}:{lab.ports['https']}"))
    with pytest.raises(
        CollectionError,
        match=r"cannot connect to https://cas01.contoso.lab:443/PowerShell/: connection refused",
    ):
        ExchangeSession(_target(lab), dialer).open()


def test_every_call_is_counted_per_host_and_cmdlet(lab: Lab) -> None:
    before = dict(lab.stats()["psrp_cmdlets"])
    with ExchangeSession(
        _target(lab, host="cas02.contoso.lab"), _dialer(lab, "cas02.contoso.lab")
    ) as session:
        session.run_all([Cmdlet("Get-ExchangeServer"), Cmdlet("Get-OutlookAnywhere", {"Server": "CAS01"})])
        session.run(Cmdlet("Get-OutlookAnywhere", {"Server": "CAS02"}))
    after = lab.stats()["psrp_cmdlets"]
    added = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    assert added == {
        "CAS02 Get-ExchangeServer": 1,
        "CAS02 Get-OutlookAnywhere -Server CAS01": 1,
        "CAS02 Get-OutlookAnywhere -Server CAS02": 1,
    }


def test_the_lab_describes_servers_in_its_own_terms() -> None:
    """No lab module imports the product's collector, evidence, facts, checks or gather code (nor
    anything that does), so what the suite reads cannot be fitted to the lab; and the lab's modules
    import no circle."""
    package = Path(__file__).resolve().parents[2] / "cas_conformance"
    forbidden = (
        "cas_conformance.collector",
        "cas_conformance.checks",
        "cas_conformance.domain.facts",
        "cas_conformance.run.gather",
        "cas_conformance.evidence",
        "cas_conformance.evidence.view",
        "cas_conformance.domain.winhttp",
        "cas_conformance.domain.event106",
    )
    lab = package / "lab"
    modules = {_lab_module(path.relative_to(lab)): path for path in sorted(lab.rglob("*.py"))}
    assert {
        "servers.psrp",
        "exchange.objects",
        "exchange.windows_shell",
        "exchange.os_answers",
        "runtime",
    } <= set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names.append(node.module or "")
                names += [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names += [a.name for a in node.names]
        for name in names:
            assert not name.startswith(forbidden), f"{path.relative_to(package)} imports {name}"
        inside = (
            n.removeprefix("cas_conformance.lab").removeprefix(".")
            for n in names
            if n == "cas_conformance.lab" or n.startswith("cas_conformance.lab.")
        )
        graph[module] = {n for n in inside if n in modules}
    for start in graph:  # no module reaches itself again
        seen: set[str] = set()
        pending = list(graph[start])
        while pending:
            module = pending.pop()
            assert module != start, f"{modules[start].relative_to(package)} is in an import circle"
            if module not in seen:
                seen.add(module)
                pending.extend(graph[module])


def test_many_cmdlets_share_one_pool_with_bounded_pipelines(lab: Lab) -> None:
    shells = lab.powershell.shells
    shells.peak_pipelines = 0
    calls = [
        Cmdlet("Get-OwaVirtualDirectory", {"Server": x, "ADPropertiesOnly": True})
        for x in ("CAS01", "CAS02", "EX01")
    ] * 4
    with ExchangeSession(_target(lab, max_concurrency=3), _dialer(lab)) as session:
        assert shells.pool_count >= 1
        outcomes = session.run_all(calls)
    assert [o.cmdlet for o in outcomes] == calls  # in order
    assert [str(o.result(CAS)[0]) for o in outcomes[:3]] == [
        f"{x}\\owa (Default Web Site)" for x in ("CAS01", "CAS02", "EX01")
    ]
    assert shells.peak_pipelines == 3  # concurrent, and never more than asked


def test_a_target_from_the_inventory_reaches_the_endpoint(lab: Lab) -> None:
    inventory = parse_inventory(lab.inventory_text(), "lab.ini")
    settings = host_settings(inventory, inventory.hosts[CAS], password=Secret(lab.password))
    target = psrp_target(settings, CAS)
    assert target.ca_trust_path == str(lab.ca_bundle) and target.user == lab.user and target.cert_validation
    ip = lab.server_address(CAS)
    dialer = Dialer(None, parse_connect_to(f"{CAS}:443:{ip}:{lab.ports['https']}"))
    with ExchangeSession(target, dialer) as session:
        assert len(session.run(Cmdlet("Get-ClientAccessServer"))) == 3
    with pytest.raises(CollectionError, match="no password"):
        psrp_target(host_settings(inventory, inventory.hosts[CAS], password=None), CAS)


def _lab_module(relative: Path) -> str:
    """A lab module's dotted name below ``cas_conformance.lab`` (``servers.dns``; a package's
    ``__init__`` is the package, the face is "")."""
    parts = relative.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

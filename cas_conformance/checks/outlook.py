"""The RpcClientAccessServer of each database ("Cannot Open Mailbox in Outlook 2007") and the Outlook
2003 sections ("Cannot Open Mailbox in Outlook 2003 and Exchange 2010 RTM", "E-Mail Messages Take a
Long Time to Load")."""

from __future__ import annotations

from cas_conformance.checks import subjects
from cas_conformance.checks.base import (
    FactsUnavailable,
    Finding,
    NotApplicable,
    check,
    cmd_word,
    needs,
    one_line,
    ps_string,
    ps_word,
)
from cas_conformance.domain.catalogue import (
    SECTION_OUT,
    SECTION_OUT2003_POLL,
    SECTION_OUT2003_RPC,
    Requirement,
    Severity,
)
from cas_conformance.domain.facts import ExchangeServer, MailboxDatabase
from cas_conformance.evidence.view import EvidenceView, Needs, resolve


@needs
def _rpc_endpoint_needs(world: EvidenceView) -> Needs:
    """The A record of every database's RpcClientAccessServer (read by the check that it resolves)."""
    return Needs(resolve=resolve("A", (db.rpc_client_access_server for db in world.databases())))


_OUT01_EXPECTED = "the FQDN of a Client Access server or of a Client Access array"


def _database(world: EvidenceView, name: str) -> MailboxDatabase:
    for db in world.databases():
        if db.name == name:
            return db
    raise FactsUnavailable(f"mailbox database {name} is not in the collected facts")


def _suggestion(world: EvidenceView, db: MailboxDatabase) -> str:
    """The array of the database server's site, else a Client Access server in that site."""
    server = world.org_server(db.server)
    site = server.site_name.lower() if server else None
    for array in sorted(world.arrays(), key=lambda a: a.fqdn):
        if site is not None and array.site_name.lower() == site:
            return array.fqdn
    candidates = [
        s for s in world.org_servers() if s.is_client_access and (s.version is None or s.version.major == 14)
    ]
    in_site = [s for s in candidates if site is not None and s.site_name.lower() == site]
    for pick in sorted(in_site or candidates, key=lambda s: s.fqdn):
        return pick.fqdn
    return "<cas-array-or-cas-fqdn>"


def _set_rca(db: MailboxDatabase, target: str) -> str:
    return f"Get-MailboxDatabase {ps_string(db.name)} | Set-MailboxDatabase -RpcClientAccessServer {ps_word(target)}"


def _skip_non_2010_host(world: EvidenceView, db: MailboxDatabase) -> ExchangeServer | None:
    server = world.org_server(db.server)
    if server is not None and server.version is not None and server.version.major >= 15:
        raise NotApplicable(
            f"{db.name} is hosted on {server.name} ({server.version.product}), which does not use "
            "RpcClientAccessServer"
        )
    return server


@check(
    Requirement(
        "OUT-01",
        "RpcClientAccessServer names a Client Access server or array",
        Severity.CRITICAL,
        SECTION_OUT,
    ),
    subjects.databases,
)
def rpc_client_access_server_is_client_access(world: EvidenceView, key: str) -> Finding:
    db = _database(world, key)
    _skip_non_2010_host(world, db)
    value = db.rpc_client_access_server.strip()
    fix = _set_rca(db, _suggestion(world, db))

    def result(passed: bool, observed: str, why: str = "") -> Finding:
        return Finding(db.server, db.name, passed, observed, _OUT01_EXPECTED, why=why, remediation=fix)

    if not value:
        return result(False, "(empty)", "the database names no RPC endpoint for Outlook")
    array = world.array(value)
    if array is not None:
        return result(True, f"{value} (Client Access array {array.name} in site {array.site_name})")
    server = world.org_server(value)
    if server is not None and server.is_client_access:
        return result(True, f"{value} (server {server.name}, roles {', '.join(server.server_role)})")
    if server is not None:
        return result(
            False,
            f"{value} (server {server.name}, roles {', '.join(server.server_role) or 'none'})",
            f"{server.name} has no Client Access role: Outlook cannot open mailboxes in {db.name} (the symptom "
            "of installing the Mailbox role before any Client Access server existed in the site)",
        )
    return result(
        False, value, "it names neither a Client Access server nor a Client Access array of the organisation"
    )


@check(
    Requirement("OUT-02", "RpcClientAccessServer resolves in DNS", Severity.CRITICAL, SECTION_OUT),
    subjects.rpc_endpoints,
)
def rpc_client_access_server_resolves(world: EvidenceView, key: str) -> Finding:
    answer = world.dns(key, "A")
    users = sorted(db.name for db in world.databases() if db.rpc_client_access_server.lower() == key)
    observed = f"{answer.status}" + (f": {', '.join(answer.records)}" if answer.records else "")
    if answer.cname_chain:
        observed += f" (via CNAME {' -> '.join(answer.cname_chain)})"
    if answer.detail and not answer.ok:
        observed += f" ({answer.detail})"
    label, _, zone = key.partition(".")
    return Finding(
        "",
        key,
        answer.ok and bool(answer.records),
        observed,
        f"an A record for {key} (for an array: the load balancer's virtual IP)",
        why=f"used as RpcClientAccessServer by {', '.join(users)}; answered by {answer.resolver}",
        remediation=f"dnscmd . /RecordAdd {cmd_word(zone)} {cmd_word(label)} A <load-balancer-or-cas-ip>\n"
        f"# or, on Windows Server 2012 DNS: Add-DnsServerResourceRecordA -ZoneName {ps_word(zone)} -Name {ps_word(label)} "
        "-IPv4Address <load-balancer-or-cas-ip>",
    )


@check(
    Requirement(
        "OUT-03", "RpcClientAccessServer is in the database server's AD site", Severity.WARNING, SECTION_OUT
    ),
    subjects.databases,
)
def rpc_client_access_server_in_same_site(world: EvidenceView, key: str) -> Finding:
    db = _database(world, key)
    host = _skip_non_2010_host(world, db)
    if host is None:
        raise FactsUnavailable(
            f"the server hosting {db.name} ({db.server}) is not in Get-ExchangeServer's list"
        )
    value = db.rpc_client_access_server
    array = world.array(value) if value else None
    target = world.org_server(value) if value and array is None else None
    if array is not None:
        site, what = array.site_name, f"array {array.fqdn}"
    elif target is not None and target.is_client_access:
        site, what = target.site_name, f"server {target.fqdn}"
    else:
        raise NotApplicable(f"{value or '(empty)'} is not a Client Access server or array: OUT-01 reports it")
    passed = site.lower() == host.site_name.lower()
    return Finding(
        db.server,
        db.name,
        passed,
        f"{what} in site {site}",
        f"a Client Access array or server in site {host.site_name} (where {host.name} hosts {db.name})",
        why="" if passed else "Outlook connects across sites to reach the database's RPC endpoint",
        remediation=_set_rca(db, _suggestion(world, db)),
    )


@check(
    Requirement(
        "OUT2003-01",
        "RPC encryption is not required for Outlook 2003",
        Severity.CRITICAL,
        SECTION_OUT2003_RPC,
    ),
    subjects.cas_servers,
)
def rpc_encryption_not_required(world: EvidenceView, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    settings = rec.settings
    if settings.outlook2003_clients == "none":
        raise NotApplicable("no Outlook 2003 clients declared (outlook2003_clients = none)")
    if settings.outlook2003_encryption_enforced:
        raise NotApplicable(
            "Outlook 2003 clients are configured to encrypt (outlook2003_encryption = enforced)"
        )
    facts = rec.require()
    error = facts.section_error("rpcclientaccess")
    if error is not None:
        raise FactsUnavailable(f"{key}: Get-RpcClientAccess failed: {error.message}")
    rpc = facts.rpc_client_access
    if rpc is None:
        if local.is_client_access:
            raise FactsUnavailable(f"{key}: the collector reported no RPC Client Access settings for a CAS")
        raise NotApplicable(f"{local.name} has no RPC Client Access configuration")
    passed = not rpc.encryption_required
    role = (
        "Client Access server"
        if local.is_client_access
        else "Mailbox server hosting a public-folder database"
    )
    return Finding(
        key,
        f"RpcClientAccess on {local.name}",
        passed,
        f"EncryptionRequired {rpc.encryption_required}",
        "EncryptionRequired False while Outlook 2003 clients do not encrypt RPC",
        why=""
        if passed
        else (
            f"Outlook 2003 does not encrypt RPC by default, so it cannot open mailboxes through this {role}. "
            "Exchange 2010 RTM defaulted to True, SP1 and later to False: True on SP1+ was set on purpose or kept "
            "from an RTM install"
        ),
        remediation=(
            f"Set-RpcClientAccess -Server {ps_word(local.name)} -EncryptionRequired $false\n"
            "# or configure Outlook 2003 to encrypt (Tools > E-Mail Accounts > View or Change an Existing Account >"
            ' More Settings > Security > "Encrypt data between Microsoft Office Outlook and Microsoft Exchange '
            'Server", or the equivalent Group Policy), then declare outlook2003_encryption = enforced'
        ),
    )


DEFAULT_POLLING_MS = 60000


def _lowered_polling_ms(value: str) -> int | None:
    """A ``Maximum Polling Frequency`` below the 60000 ms default, else None (not a number too)."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) >= DEFAULT_POLLING_MS:
        return None
    return int(text)


@check(
    Requirement(
        "OUT2003-02",
        "Online-mode Outlook 2003 gets timely notifications (UDP push on, or polling below 60000 ms)",
        Severity.WARNING,
        SECTION_OUT2003_POLL,
    ),
    subjects.client_access_only,
)
def outlook2003_online_notifications(world: EvidenceView, key: str) -> Finding:
    rec = subjects.record(world, key)
    local = subjects.require_2010(rec)
    settings = rec.settings
    if settings.outlook2003_clients != "online":
        raise NotApplicable(
            f"no online-mode Outlook 2003 clients declared (outlook2003_clients = "
            f"{settings.outlook2003_clients})"
        )
    facts = rec.require()
    error = facts.section_error("registry")
    if error is not None:
        raise FactsUnavailable(f"{key}: reading the registry failed: {error.message}")
    push = next((r for r in facts.registry if r.name == "EnablePushNotifications"), None)
    polling = next((r for r in facts.registry if r.name == "Maximum Polling Frequency"), None)
    if push is None or polling is None:
        raise FactsUnavailable(
            f"{key}: the collector did not report the push-notification and polling values"
        )
    push_text = push.value if push.present else "absent"
    polling_text = f"{polling.value} ms" if polling.present else "absent (default 60000 ms)"
    push_on = push.present and push.value.strip() == "1"
    lowered = _lowered_polling_ms(polling.value) if polling.present else None
    passed = push_on or lowered is not None
    notes = [f"polling value under {polling.key}: {polling_text}"]
    if lowered is not None:
        notes.append(
            f"Maximum Polling Frequency is lowered to {lowered} ms (the reference's workaround): "
            "online-mode Outlook 2003 polls more often, which costs CAS load"
        )
    rpc_key = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem"
    return Finding(
        key,
        local.name,
        passed,
        f"EnablePushNotifications {push_text}; Maximum Polling Frequency {polling_text}",
        "UDP push notifications switched on (EnablePushNotifications = 1), or Maximum Polling "
        f"Frequency below the {DEFAULT_POLLING_MS} ms default",
        why=""
        if passed
        else (
            "online-mode Outlook 2003 gets no UDP notifications from Exchange 2010 and polls "
            "(about 30 s on average, up to a minute): sent items linger, new mail arrives late"
        ),
        notes=tuple(notes),
        remediation=(
            "# 1. move the Outlook 2003 clients to Cached Exchange Mode, then declare outlook2003_clients = cached\n"
            "# 2. or lower the polling interval on this CAS (costs CAS load):\n"
            f"New-ItemProperty -Path {ps_string(polling.key)} -Name 'Maximum Polling Frequency' -PropertyType DWord "
            f"-Value 10000 -Force; Restart-Service MSExchangeRPC   # on {one_line(local.name)}\n"
            "# 3. or switch UDP push notifications back on (SP1 RU3 and later; clients must accept the UDP):\n"
            f"New-ItemProperty -Path '{rpc_key}' -Name EnablePushNotifications -PropertyType DWord -Value 1 -Force; "
            f"Restart-Service MSExchangeRPC   # on {one_line(local.name)}"
        ),
    )

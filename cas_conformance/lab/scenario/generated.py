"""A generated organisation of N multi-role Exchange 2010 servers, for scale runs.

Every server holds Mailbox, Client Access and Hub Transport in the array's site, hosts one
database, publishes OWA under the shared external name with its own failback name, and carries the
one published certificate. That certificate names the shared names and ``*.<domain>`` for the
servers' own and failback names, as a large organisation's would: a certificate naming each of
2,000 servers does not exist (certificate authorities cap a certificate's names at 100 to 250, Let's
Encrypt at 100), and listing them all would make every per-member comparison (DRIFT-03) grow with
the square of the organisation. Exchange 2010 takes wildcard certificates for its services; Outlook
Anywhere then needs ``Set-OutlookProvider EXPR -CertPrincipalName msstd:*.<domain>`` (Microsoft's
Exchange 2007 troubleshooting topic for RPC over HTTP with a wildcard certificate,
https://technet.microsoft.com/en-us/library/cc535023(EXCHG.80).aspx).
"""

from __future__ import annotations

import copy

from cas_conformance.errors import LabError
from cas_conformance.lab.scenario.model import LabDatabase, LabServer, Scenario

MAX_SERVERS = 5000  # 2,000 is the largest Exchange 2010 organisation the suite is sized for (docs/scale.md)


def generated(base: Scenario, count: int) -> Scenario:
    if not 1 <= count <= MAX_SERVERS:
        raise LabError(f"--servers takes 1 to {MAX_SERVERS}, not {count}")
    scenario = copy.deepcopy(base)
    template = next((s for s in base.servers if s.is_cas and s.external_host), None)
    if template is None or not base.arrays:
        raise LabError(
            f"scenario {base.name} needs a CAS with an external name and an array to generate from"
        )
    site = base.arrays[0].site
    domain = base.domain
    width = max(3, len(str(count)))
    servers: list[LabServer] = []
    databases: list[LabDatabase] = []
    names = {k: v for k, v in base.names.items() if not k.startswith("failback-")}
    cert_names = [n for n in base.certificate_names if not n.startswith(("failback-", "cas", "ex", "mbx"))]
    for i in range(1, count + 1):
        name = f"EX{i:0{width}d}"
        server = copy.deepcopy(template)
        server.name, server.site = name, site
        server.roles = ["Mailbox", "ClientAccess", "HubTransport"]
        server.failback_host = f"failback-{name.lower()}.{domain}"
        servers.append(server)
        databases.append(LabDatabase(f"DB{i:0{width}d}", name, base.arrays[0].fqdn))
        names[server.failback_host] = name
    scenario.servers = servers
    scenario.databases = databases
    scenario.public_folder_databases = [LabDatabase("PF01", servers[0].name, "")]
    scenario.names = names
    scenario.certificate_names = [*cert_names, f"*.{domain}"]
    scenario.probe_database = databases[0].name
    scenario.name = f"{base.name}-{count}"
    return scenario

"""The effective inventory in ``ansible-inventory --list``'s shape, every password masked.

``_meta.hostvars`` holds each host's merged variables as Ansible types them; each group reached
from ``all`` lists its direct ``hosts`` and its ``children`` (``all`` its children only), empty
lists and empty groups left out, as ansible-inventory prints them. A password-like variable
(``*pass*``, ``*secret*``, ``*token*``) shows ``"***"``; any other Vault value its ciphertext,
as ansible-inventory shows it.
"""

from __future__ import annotations

import json

from cas_conformance.inventory.model import ALL, Inventory, is_secret_name
from cas_conformance.inventory.values import jsonable

MASK = "***"


def inventory_json(inventory: Inventory) -> dict[str, object]:
    hostvars = {
        name: {
            key: MASK if is_secret_name(key) else jsonable(value)
            for key, value in sorted(host.values.items())
        }
        for name, host in inventory.hosts.items()
        if host.values  # as ansible-inventory: a host without variables has no entry
    }
    result: dict[str, object] = {"_meta": {"hostvars": hostvars}}
    pending = [ALL]
    seen = {ALL}
    while pending:
        group = inventory.groups[pending.pop(0)]
        entry: dict[str, list[str]] = {}
        if group.name != ALL and group.hosts:
            entry["hosts"] = list(group.hosts)
        if group.children:
            entry["children"] = list(group.children)
        if entry:
            result[group.name] = entry
        for child in group.children:
            if child not in seen:
                seen.add(child)
                pending.append(child)
    return result


def dump(inventory: Inventory) -> str:
    return json.dumps(inventory_json(inventory), indent=4, sort_keys=True)

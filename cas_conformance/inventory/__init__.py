"""The inventory an Exchange team already keeps for Ansible, read as Ansible reads it.

The face of the package: :func:`load_inventory` and :func:`parse_inventory` (``read``), the objects
they return (``model``). The modules beside it are the parts: INI and YAML files, directories and
``group_vars``, external sources through ``ansible-inventory``, host patterns, Vault.
"""

from cas_conformance.inventory.ini import SECTION_KINDS
from cas_conformance.inventory.model import ALL, UNGROUPED, Group, Host, Inventory, VarMapping
from cas_conformance.inventory.read import load_inventory, parse_inventory

__all__ = [
    "ALL",
    "SECTION_KINDS",
    "UNGROUPED",
    "Group",
    "Host",
    "Inventory",
    "VarMapping",
    "load_inventory",
    "parse_inventory",
]

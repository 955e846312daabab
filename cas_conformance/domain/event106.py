"""Which Event ID 106 is the RPC Client Access one (RPC-02): the message's *category name*.

Exchange logs Event 106 (source ``MSExchange Common``) for any performance counter it cannot
update; the text names the counter and its category ("Performance counter updating error.
Counter name is RPC Requests, category name is MSExchange RpcClientAccess. ..."), and Microsoft
notes that the category tells the many 106s apart ("Not all 106 are created equal",
https://learn.microsoft.com/en-us/archive/blogs/dseveso/not-all-106-are-created-equal). Counter
and category names stay English in localised messages ("Der Kategoriename ist MSExchange
RpcClientAccess"), while the surrounding words do not, so the match is on the category name
alone. The message ends with the processes running at the time, which lists
``Microsoft.Exchange.RpcClientAccess.Service.exe`` in every 106 of any category: matching
``RpcClientAccess`` anywhere would count those too.

The pattern is both a .NET regex (the collector's ``-match``, case-insensitive) and a Python one
(the lab and the check apply it the same way).
"""

from __future__ import annotations

import re

RPC_CLIENT_ACCESS_CATEGORY = "MSExchange RpcClientAccess"
#: ``MSExchange RpcClientAccess`` as a whole name: not ``...RpcClientAccess Per Server`` (another
#: category), not a part of ``Microsoft.Exchange.RpcClientAccess.Service.exe``.
RPC_CLIENT_ACCESS_106_PATTERN = r"(?<![\w.])MSExchange RpcClientAccess(?! Per Server)(?![\w])"
_PATTERN = re.compile(RPC_CLIENT_ACCESS_106_PATTERN, re.IGNORECASE)


def names_rpc_client_access_category(message: str, pattern: str = RPC_CLIENT_ACCESS_106_PATTERN) -> bool:
    """Does a 106 message name the RPC Client Access counter category (as collect.ps1 filters)?"""
    compiled = _PATTERN if pattern == RPC_CLIENT_ACCESS_106_PATTERN else re.compile(pattern, re.IGNORECASE)
    return compiled.search(message) is not None

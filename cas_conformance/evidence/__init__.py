"""Evidence, one module per kind: each plans what to ask, fetches it, saves it and loads it back.

``exchange`` (Exchange remote PowerShell), ``os`` (the WinRM OS collector), ``dns``, ``http``,
``tls``, ``revocation`` and ``smtp``; ``registry`` lists them, ``model`` is the frozen Evidence
they fill. gather fetches the Exchange and OS parts, asks the checks what network evidence they
need of those facts, and fetches the union.
"""

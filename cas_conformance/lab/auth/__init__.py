"""How the lab's servers authenticate a client: Basic and NTLM with WinRM message sealing
(``ntlm``), the Kerberos acceptor, CredSSP, and the MIT KDC that issues the lab's tickets (``kdc``)."""

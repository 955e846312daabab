"""The lab's protocol servers, each on loopback addresses: the shared listener and addressing
(``listener``, ``net``), DNS, HTTP(S), SMTP, WinRM (WS-Management, WinRS shells), PSRP and its
``/PowerShell`` directory, the PKI's OCSP/CRL server (``revocation``) and the black hole."""

"""How bytes reach a host: Exchange remote PowerShell (``psrp``), WinRM (``winrm``), Kerberos
(``kerberos``), DNS (``dns``), TLS (``tls``, ``tls_client``), HTTP (``http``), SMTP (``smtp``),
OCSP/CRL (``revocation``), all dialled through one ``dialer`` (``connect_to``, the inventory's
resolvers). A channel takes plain values (``PsrpTarget``, ``WinrmTarget``, ``Krb5Config``), never a
settings object, and returns records of what it observed; it decides no verdict."""

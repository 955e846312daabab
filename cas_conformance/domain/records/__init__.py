"""Plain records of what a channel observed (a TLS handshake, a DNS answer, an HTTP, SMTP or
revocation probe): frozen, JSON-serialisable data, no sockets. Channels produce them, the facts
file saves them, checks read them."""

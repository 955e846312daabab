"""A greeting-only SMTP server that answers like Exchange 2010's receive connector.

CONN-07 only needs what a sender sees before any mail moves: the 220 banner, the EHLO extensions
and whether STARTTLS works. So this server speaks exactly that much (EHLO/HELO, STARTTLS, RSET,
NOOP, QUIT) and answers 502 to everything else; it never accepts a message.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Sequence

from cas_conformance.lab.servers.listener import Connection, Listener

_MAX_LINE = 4096
_SIZE_LIMIT = 37748736  # Exchange 2010's default receive connector limit (36 MB)


class SmtpServer(Listener):
    """Listen on every address in *addresses* on one port; ``stats`` counts connections per address."""

    kind = "SMTP"

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        hostname: str,
        port: int = 0,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(list(addresses), port=port)
        self.hostname = hostname
        self.tls_context = tls_context
        self._stats: Counter[str] = Counter()

    @property
    def stats(self) -> Counter[str]:
        """A snapshot: local address -> connections accepted."""
        with self._lock:
            return Counter(self._stats)

    def _serve_connection(self, connection: Connection) -> None:
        with self._lock:
            self._stats[connection.local_address] += 1
        session = _SmtpSession(self, connection)
        try:
            session.run()
        except EOFError:
            pass  # the client hung up mid-line: a client-side outcome
        finally:
            session.close()


class _SmtpSession:
    """One client conversation, line by line."""

    def __init__(self, server: SmtpServer, connection: Connection) -> None:
        self.server = server
        self.connection = connection
        self.reader = connection.sock.makefile("rb")
        self.in_tls = False
        self.peer = connection.peer[0]

    def close(self) -> None:
        self.reader.close()  # the socket itself is the listener's to close

    def send(self, *lines: str) -> None:
        self.connection.sock.sendall("".join(line + "\r\n" for line in lines).encode("ascii"))

    def run(self) -> None:
        self.send(f"220 {self.server.hostname} Microsoft ESMTP MAIL Service ready")
        while True:
            line = self.reader.readline(_MAX_LINE)
            if not line:
                return
            text = line.decode("latin-1").rstrip("\r\n")
            verb, _, argument = text.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                self.send("221 2.0.0 Service closing transmission channel")
                return
            if verb == "EHLO":
                self.send(*self._ehlo_lines(argument.strip()))
            elif verb == "HELO":
                self.send(f"250 {self.server.hostname} Hello [{self.peer}]")
            elif verb == "RSET":
                self.send("250 2.0.0 Resetting")
            elif verb == "NOOP":
                self.send("250 2.0.0 OK")
            elif verb == "STARTTLS" and self.server.tls_context is not None and not self.in_tls:
                self._starttls(self.server.tls_context)
            else:
                self.send("502 5.3.3 Command not implemented")

    def _ehlo_lines(self, client: str) -> list[str]:
        features = [f"SIZE {_SIZE_LIMIT}", "PIPELINING"]
        if self.server.tls_context is not None and not self.in_tls:
            features.append("STARTTLS")
        features.append("8BITMIME")
        first = f"{self.server.hostname} Hello [{self.peer}]"
        del client  # Exchange greets by the client's address, not its claimed name
        lines = [first, *features]
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    def _starttls(self, context: ssl.SSLContext) -> None:
        self.send("220 2.0.0 SMTP server ready")
        self.reader.close()
        # wrap_socket takes over the descriptor; handshake after the swap so stop() can shut it down
        tls = self.connection.upgrade(
            lambda raw: context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        )
        tls.do_handshake()
        self.reader = tls.makefile("rb")
        self.in_tls = True

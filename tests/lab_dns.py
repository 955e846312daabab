"""One lab DNS server shared by a test module, put back to a clean state around each of its tests."""

from __future__ import annotations

from collections.abc import Iterator

from cas_conformance.lab import DnsServer


def fresh_for_each_test(server: DnsServer) -> Iterator[None]:
    """The body of an autouse fixture: ``yield from fresh_for_each_test(server)``.

    A module-scoped server outlives its tests, so each one starts with no faults, no counted queries
    and no answers held back, and leaves none held back (a test that fails while holding must not
    stall the next). An exception a server thread hit during the test fails that test.
    """
    server.zone.clear_faults()
    server.reset_stats()
    server.release()
    yield
    server.release()
    server.check()

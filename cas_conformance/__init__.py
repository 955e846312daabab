"""cas-conformance: a pytest conformance suite for Exchange 2010 SP2/SP3 Client Access servers.

PYTEST_DONT_REWRITE: the console script imports this package before pytest starts (and a run
rooted again at the suite, see ``rooting``, starts pytest a second time), so pytest must not warn
that it was imported before it could rewrite its asserts; the package's code does not rely on
rewritten asserts.
"""

__version__ = "0.1.0"

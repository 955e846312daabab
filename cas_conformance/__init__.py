"""cas-conformance: a pytest conformance suite for Exchange 2010 SP2/SP3 Client Access servers."""

__version__ = "0.1.0"

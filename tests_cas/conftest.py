"""The conformance suite. Facts, parametrization and markers come from the cas_conformance plugin
(registered by entry point); each test below states one requirement of the catalogue."""

"""Tests of the collector script, its output format, parser and renderer."""

"""The shared vocabulary, no I/O: the requirements catalogue, the facts and network records every
stage passes on, WinHTTP and Event 106 parsing, certificate chain verdicts, the password type."""

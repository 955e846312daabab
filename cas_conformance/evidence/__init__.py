"""Evidence, one module per kind: each plans what to ask, fetches it, saves it and loads it back.

``exchange`` (Exchange remote PowerShell) and ``os`` (the WinRM OS collector); gather orchestrates
them and joins their parts into each server's facts.
"""

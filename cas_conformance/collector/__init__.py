"""The OS collector: the one PowerShell 2.0-safe script WinRM runs on each server (``script``,
``collect.ps1``), the line format it prints (``format``, ``values``; docs/collector-format.md), and
its parser (``parse``) and renderer (``render``)."""

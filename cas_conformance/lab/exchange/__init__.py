"""What a simulated Exchange 2010 server answers: the organisation's objects (``objects``,
``wire_types``), the cmdlets of its remote PowerShell (``cmdlets``, assembled by ``powershell``),
its OS as the collector reads it (``os_answers``, ``windows_shell``) and its IIS sites (``web``)."""

"""What a run leaves behind, from its findings: results.json, the HTML report's summary and drift
views, remediation.ps1 (the only place a fix is rendered for a shell), the migration gate against a
baseline, and waivers."""

"""The tamper-evident audit log (DPS 4.4): a hash chain of entries with signed checkpoints.

``events`` is the fixed catalogue, ``entry`` the format, ``chain`` the pure verifier an
auditor runs on files; ``log`` is the append-only writer (``audit.record(event, actor=...,
**details)``) that ``config.open_audit_log`` builds for an entry point. docs/audit.md.
"""

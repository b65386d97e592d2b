"""Where registry and EPP actions report audit events (DPS 4.4.1).

The audit log proper (``tldsec.audit``) is wired in by entry points later: anything with
the signature of ``AuditRecorder`` will do. Until then ``log_audit`` writes the event to
the ``tldsec.audit`` logger. docs/registry.md lists every event name used.
"""

from __future__ import annotations

import logging
from typing import Protocol

_log = logging.getLogger("tldsec.audit")


class AuditRecorder(Protocol):
    """``audit.record(event, actor=..., **details)``."""

    def __call__(self, event: str, *, actor: str, **details: object) -> None: ...


def log_audit(event: str, *, actor: str, **details: object) -> None:
    """The default recorder: one log line per event."""
    fields = " ".join(f"{k}={v!r}" for k, v in sorted(details.items()))
    _log.info("%s actor=%s %s", event, actor, fields)

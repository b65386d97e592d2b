"""The verifier's public entry: ``verify_zone`` and what it is called with (DPS 6.6).

The run itself is ``driver``'s; this module names what callers (the CLI, the cycle's
gate, the tests and benchmarks) import.
"""

from __future__ import annotations

from tldsec.verify.driver import verify_incremental, verify_zone
from tldsec.verify.options import (
    EXTERNAL_DEFAULT,
    KeyOpener,
    VerifyOptions,
    VerifyRequest,
)

__all__ = [
    "EXTERNAL_DEFAULT",
    "KeyOpener",
    "VerifyOptions",
    "VerifyRequest",
    "verify_incremental",
    "verify_zone",
]

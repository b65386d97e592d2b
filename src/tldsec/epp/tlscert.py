"""A self-signed certificate and key for the EPP server of the embedded default home.

``tldsec init`` calls ``make_self_signed``; production deployments configure a
certificate from their CA in ``[epp] tls_cert`` / ``tls_key``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tldsec.clock import Clock, SystemClock
from tldsec.selfsigned import self_signed


def make_self_signed(
    cert_path: Path,
    key_path: Path,
    hostname: str,
    *,
    clock: Clock | None = None,
    days: int = 825,
) -> str:
    """Write a P-256 key (mode 0600) and a self-signed certificate for ``hostname``
    (also valid for 127.0.0.1 and ::1), both atomically; returns the certificate's
    SHA-256 fingerprint. The certificate is a CA (path length 0) so that an EPP client
    may configure it as its trust anchor."""
    made = self_signed(
        cert_path,
        key_path,
        hostname,
        now=(clock or SystemClock()).now(),
        validity=timedelta(days=days),
        dns_names=(hostname,),
        ip_addresses=("127.0.0.1", "::1"),
        ca=True,
    )
    return made.sha256

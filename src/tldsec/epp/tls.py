"""TLS for EPP (RFC 5734 9): TLS 1.2 or later, optional or required client certificates."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

from tldsec.errors import ConfigError


def server_context(
    cert: Path, key: Path, *, client_ca: Path | None = None, require_client_cert: bool = False
) -> ssl.SSLContext:
    """The server's TLS context; client certificates are checked against ``client_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"EPP TLS certificate {cert} / key {key}: {exc}") from exc
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"EPP client CA {client_ca}: {exc}") from exc
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ConfigError("[epp] require_client_cert needs client_ca to verify them against")
    return context


def client_context(
    server_ca: Path | None, *, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A client context trusting ``server_ca`` (a self-signed server cert works as its CA)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if server_ca is not None:
        context.load_verify_locations(cafile=server_ca)
    else:
        context.load_default_certs()
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, lower-case hex (what registrars are pinned to)."""
    return hashlib.sha256(der).hexdigest()


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return fingerprint(der) if der else None

"""The certificates of the push channel (decision 49): self-signed, one per signer and
one per primary, pinned by each other's exact certificate and its SHA-256 fingerprint.

``new_certificate`` makes an ECDSA P-256 key and a self-signed certificate for it
(``selfsigned.py``; the key file 0600); ``fingerprint`` is the SHA-256 of the
certificate's DER bytes, the value operators compare between sites before writing it
into ``[push]``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tldsec.errors import ConfigError
from tldsec.selfsigned import self_signed

VALIDITY = timedelta(days=3650)  # the pin, not the dates, is what is trusted


@dataclass(frozen=True, slots=True)
class PushIdentity:
    """A certificate file and its key file."""

    cert: Path
    key: Path


def new_certificate(name: str, directory: Path, now: datetime) -> PushIdentity:
    """``NAME.pem`` (certificate) and ``NAME.key`` (0600) in ``directory``; refuses to
    overwrite either."""
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    for path in (cert_path, key_path):
        if path.exists():
            raise ConfigError(f"{path} exists: remove it first, or choose another --name")
    made = self_signed(
        cert_path,
        key_path,
        f"tldsec push {name}",
        now=now,
        validity=VALIDITY,
        dns_names=(_dns_safe(name),),
    )
    return PushIdentity(made.cert, made.key)


def fingerprint_der(der: bytes) -> str:
    """The SHA-256 of a certificate's DER bytes, lower-case hex."""
    return hashlib.sha256(der).hexdigest()


def read_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the certificate {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM certificate: {exc}") from exc


def fingerprint(path: Path) -> str:
    """The SHA-256 fingerprint of the PEM certificate in ``path``."""
    return fingerprint_der(read_certificate(path).public_bytes(serialization.Encoding.DER))


def normalise_fingerprint(text: str) -> str:
    """``sha256:AB:CD...``, ``AB:CD...`` or ``abcd...`` as 64 lower-case hex digits."""
    value = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ConfigError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits)")
    return value


def _dns_safe(name: str) -> str:
    label = "".join(c if c.isalnum() or c == "-" else "-" for c in name.lower()).strip("-")
    return label or "tldsec-push"

"""The certificates of the push channel (decision 49): self-signed, one per signer and
one per primary, pinned by each other's exact certificate and its SHA-256 fingerprint.

``new_certificate`` makes an ECDSA P-256 key and a self-signed certificate for it (the
key file 0600); ``fingerprint`` is the SHA-256 of the certificate's DER bytes, the value
operators compare between sites before writing it into ``[push]``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tldsec.atomicfile import replacing
from tldsec.errors import ConfigError

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
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tldsec push {name}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(_dns_safe(name))]), False)
        .sign(key, hashes.SHA256())
    )
    with replacing(key_path, "wb", permissions=0o600) as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with replacing(cert_path, "wb", permissions=0o644) as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    return PushIdentity(cert_path, key_path)


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

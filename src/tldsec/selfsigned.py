"""Self-signed ECDSA P-256 certificates: the EPP server's of the embedded default home
(``epp/tlscert.py``) and the pinned ones of the signer-to-primary push
(``distribute/pushcert.py``, decision 49).

``self_signed`` makes the key and the certificate and writes both atomically
(``atomicfile.replacing``): the key file is 0600 from its first byte, a file that was
there is replaced whole (with the new mode, not the old one), and a failure leaves what
was there as it was.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tldsec.atomicfile import replacing

BACKDATE = timedelta(minutes=5)  # a peer whose clock is a little behind accepts it


@dataclass(frozen=True, slots=True)
class SelfSigned:
    """What was written: the two files and the certificate's SHA-256 fingerprint
    (lower-case hex of its DER bytes)."""

    cert: Path
    key: Path
    sha256: str


def self_signed(
    cert_path: Path,
    key_path: Path,
    common_name: str,
    *,
    now: datetime,
    validity: timedelta,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    ca: bool = False,
) -> SelfSigned:
    """A new P-256 key in ``key_path`` (0600) and a self-signed certificate for it in
    ``cert_path`` (0644), valid from ``now`` (less ``BACKDATE``) for ``validity``, with
    the given subject alternative names; ``ca``: basic constraints CA with path length 0
    (a client that wants a CA certificate as its trust anchor accepts it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    for path in (cert_path, key_path):
        path.parent.mkdir(parents=True, exist_ok=True)
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
    return SelfSigned(cert_path, key_path, cert.fingerprint(hashes.SHA256()).hex())

"""Read an RSA key from BIND's private-key format (``K<name>+<alg>+<tag>.private``).

The format (v1.2, as ``dnssec-keygen`` writes it) is ``Field: value`` lines with the RSA
numbers in base64. tldsec reads it to import published test keys (RFC 5702 6.1) and keys
an operator migrates from BIND; it never writes one.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from tldsec.policy import Algorithm

_RSA_FIELDS = (
    "Modulus",
    "PublicExponent",
    "PrivateExponent",
    "Prime1",
    "Prime2",
    "Exponent1",
    "Exponent2",
    "Coefficient",
)


@dataclass(frozen=True, slots=True)
class BindPrivateKey:
    """The algorithm and RSA numbers of a BIND private-key file."""

    algorithm: Algorithm
    numbers: rsa.RSAPrivateNumbers


def parse_bind_private_key(text: str, *, source: str = "<text>") -> BindPrivateKey:
    """Parse the text of a BIND private-key file holding an RSA key (algorithm 8 or 10)."""
    fields: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(";"):
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"{source}:{lineno}: expected 'Field: value'")
        fields[name.strip()] = value.strip()
    if not fields.get("Private-key-format", "").startswith("v1."):
        raise ValueError(f"{source}: not a BIND private-key file (Private-key-format v1.x)")
    try:
        algorithm = Algorithm(int(fields.get("Algorithm", "").split()[0]))
        if algorithm not in (Algorithm.RSASHA256, Algorithm.RSASHA512):
            raise ValueError("an ECDSA key file has no RSA fields")  # tests use RSA files only
    except (ValueError, IndexError):
        found = fields.get("Algorithm")
        raise ValueError(
            f"{source}: Algorithm {found!r} is not RSASHA256 (8) or RSASHA512 (10)"
        ) from None
    ints: dict[str, int] = {}
    for name in _RSA_FIELDS:
        if name not in fields:
            raise ValueError(f"{source}: field {name} is missing")
        try:
            ints[name] = int.from_bytes(base64.b64decode(fields[name], validate=True), "big")
        except binascii.Error as exc:
            raise ValueError(f"{source}: field {name} is not base64: {exc}") from exc
    numbers = rsa.RSAPrivateNumbers(
        p=ints["Prime1"],
        q=ints["Prime2"],
        d=ints["PrivateExponent"],
        dmp1=ints["Exponent1"],
        dmq1=ints["Exponent2"],
        iqmp=ints["Coefficient"],
        public_numbers=rsa.RSAPublicNumbers(e=ints["PublicExponent"], n=ints["Modulus"]),
    )
    return BindPrivateKey(algorithm, numbers)


def read_bind_private_key(path: Path) -> BindPrivateKey:
    """Read and parse a BIND ``.private`` file."""
    return parse_bind_private_key(path.read_text("ascii"), source=str(path))

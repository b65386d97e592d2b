"""The PKCS#11 objects tldsec makes, as templates: one place for what every key is.

Used by the key store (``hsm/pkcs11.py``) to generate, import and restore keys, and by
the SMK wrapping (``hsm/wrapping.py``) to unwrap and check them.
"""

from __future__ import annotations

from typing import Any

import pkcs11
from pkcs11 import Attribute, Mechanism

from tldsec.hsm.smk import UNWRAPPED_KEY_TEMPLATE
from tldsec.policy import Algorithm

# RFC 5702 3: RSASSA-PKCS1-v1_5 with SHA-256 (8) or SHA-512 (10); the token hashes.
# RFC 6605 2: ECDSA P-256 with SHA-256 (13); CKM_ECDSA signs the digest made outside.
MECHANISMS = {
    Algorithm.RSASHA256: Mechanism.SHA256_RSA_PKCS,
    Algorithm.RSASHA512: Mechanism.SHA512_RSA_PKCS,
    Algorithm.ECDSAP256SHA256: Mechanism.ECDSA,
}


# The private half of every key pair (DPS 5.2): kept in the token, never readable in
# clear, extractable only by wrapping under a trusted key (the SMK backup, hsm/smk.py),
# usable for signing and nothing else. It includes hsm/smk.py UNWRAPPED_KEY_TEMPLATE,
# which the SMK forces on every key unwrapped under it.
PRIVATE_KEY_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: True,
    Attribute.WRAP_WITH_TRUSTED: True,
    Attribute.SIGN: True,
    Attribute.DECRYPT: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}


# A one-use MAC key for an archive (mac_under_smk): made in the token, leaves it only
# wrapped under the SMK, as every key unwrapped under the SMK must be.
MAC_KEY_TEMPLATE: dict[Attribute, Any] = {
    **UNWRAPPED_KEY_TEMPLATE,
    Attribute.TOKEN: False,
    Attribute.VERIFY: True,
    Attribute.ENCRYPT: pkcs11.DEFAULT,
    Attribute.DECRYPT: pkcs11.DEFAULT,
    Attribute.WRAP: pkcs11.DEFAULT,
    Attribute.UNWRAP: pkcs11.DEFAULT,
}


def refuses(attempt: Any, refusal: type[pkcs11.PKCS11Error]) -> bool:
    """Whether ``attempt()`` is refused with ``refusal`` (True) or succeeds (False)."""
    try:
        attempt()
    except refusal:
        return True
    return False


def biginteger(value: int) -> bytes:
    """A PKCS#11 Big integer: unsigned, big-endian, no leading zero octets."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")

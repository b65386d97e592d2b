"""DNSKEY arithmetic: key tags (RFC 4034 Appendix B) and DS digests (RFC 4034 5.1.4)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from tldsec.policy import DigestType

_DIGESTS: dict[int, Callable[[bytes], hashlib._Hash]] = {
    DigestType.SHA1: hashlib.sha1,
    DigestType.SHA256: hashlib.sha256,
    DigestType.SHA384: hashlib.sha384,
}
DIGEST_LENGTHS = {DigestType.SHA1: 20, DigestType.SHA256: 32, DigestType.SHA384: 48}


def key_tag(dnskey_rdata: bytes) -> int:
    """The key tag of a DNSKEY RDATA (RFC 4034 Appendix B; algorithm 1 is not supported)."""
    if len(dnskey_rdata) < 4:
        raise ValueError("DNSKEY RDATA shorter than 4 octets")
    if dnskey_rdata[3] == 1:
        # RFC 4034 B.1: RSA/MD5 uses a different rule; that algorithm is long retired.
        raise ValueError("key tags of algorithm 1 (RSAMD5) are not supported")
    acc = sum(dnskey_rdata[0::2]) << 8
    acc += sum(dnskey_rdata[1::2])
    acc += acc >> 16
    return acc & 0xFFFF


def dnskey_rdata(flags: int, algorithm: int, public_key: bytes, protocol: int = 3) -> bytes:
    """DNSKEY RDATA wire form (RFC 4034 2.1)."""
    return flags.to_bytes(2, "big") + bytes((protocol, algorithm)) + public_key


def ds_digest(owner_wire: bytes, dnskey: bytes, digest_type: int) -> bytes:
    """digest = hash(canonical owner name | DNSKEY RDATA) (RFC 4034 5.1.4)."""
    try:
        fn = _DIGESTS[DigestType(digest_type)]
    except (ValueError, KeyError):
        raise ValueError(f"unsupported DS digest type {digest_type}") from None
    return fn(owner_wire.lower() + dnskey).digest()


def ds_rdata(owner_wire: bytes, dnskey: bytes, digest_type: int) -> bytes:
    """DS RDATA for a DNSKEY: key tag, algorithm, digest type, digest (RFC 4034 5.1)."""
    tag = key_tag(dnskey)
    return (
        tag.to_bytes(2, "big")
        + bytes((dnskey[3], digest_type))
        + ds_digest(owner_wire, dnskey, digest_type)
    )

"""Hand-made key records for tests: chosen key tags, chosen facts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

from tldsec.dnscore.dnskey import dnskey_rdata, key_tag
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.state import KeyRecord, Role
from tldsec.policy import Algorithm

_ids = itertools.count(1)


def public_key_with_tag(role: Role, tag: int, seed: int = 1) -> bytes:
    """An RSA-shaped DNSKEY public key whose key tag (with the role's flags) is ``tag``.

    The last 16-bit word of the RDATA is searched for the value that makes the
    RFC 4034 Appendix B sum come out as ``tag``.
    """
    body = b"\x03\x01\x00\x01" + bytes((seed * 37 + i) % 256 for i in range(126))
    for word in range(65536):
        public = body + word.to_bytes(2, "big")
        if key_tag(dnskey_rdata(role.flags, 8, public)) == tag:
            return public
    raise AssertionError(f"no public key found with tag {tag}")


def make_key(
    role: Role, created: datetime, *, tag: int | None = None, **facts: datetime
) -> KeyRecord:
    n = next(_ids)
    public = (
        public_key_with_tag(role, tag, seed=n)
        if tag is not None
        else bytes([3, 1, 0, 1, n % 256]) * 26
    )
    return KeyRecord(
        key_id=f"test-{role}-{n}",
        role=role,
        algorithm=Algorithm.RSASHA256,
        bits=1024,
        public_key=public,
        created=created,
        **facts,
    )


def factory_with_tags(tags: list[int]) -> tuple[KeyFactory, list[str]]:
    """A key factory whose keys carry the given tags in order; also the ids it made."""
    made: list[str] = []
    queue: Iterator[int] = iter(tags)

    def make(role: Role, now: datetime) -> KeyRecord:
        key = make_key(role, now, tag=next(queue))
        made.append(key.key_id)
        return key

    return make, made

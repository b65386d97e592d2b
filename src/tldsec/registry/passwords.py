"""Secrets at rest: registrar passwords and authInfo values, hashed with Argon2id.

RFC 9106 4: the second recommended option (64 MiB, 3 passes) is argon2-cffi's default
and what ``production_hasher`` returns; tests use ``fast_hasher`` so hundreds of hashes
stay cheap. A hash records its own parameters, so both verify each other's hashes.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


def production_hasher() -> PasswordHasher:
    return PasswordHasher()


def fast_hasher() -> PasswordHasher:
    """Weak parameters for tests and benchmarks that create many objects."""
    return PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def verify(hasher: PasswordHasher, stored_hash: str, secret: str) -> bool:
    """Whether ``secret`` matches; a malformed stored hash never matches."""
    try:
        return hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False

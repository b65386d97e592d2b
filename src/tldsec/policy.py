"""The DNSSEC Policy Statement as data: frozen dataclasses loaded from TOML.

``load_policy`` reads ``policies/dps.toml`` (or an operator's file), checks every field
and returns a ``Policy``; an invalid policy is refused with a ``PolicyError`` naming the
field. Nothing here reads the clock or touches a key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

from tldsec.dpsnumbers import DPS
from tldsec.errors import PolicyError, PolicyViolation
from tldsec.policy_check import refusals


class Algorithm(IntEnum):
    """DNSSEC algorithm numbers (IANA registry) that tldsec can sign with."""

    RSASHA256 = 8
    RSASHA512 = 10
    ECDSAP256SHA256 = 13  # RFC 6605; RFC 8624 3.1: MUST sign, RECOMMENDED


# RFC 6605 2: an ECDSA curve fixes the key size; a policy names it to say what it expects.
FIXED_KEY_BITS = {Algorithm.ECDSAP256SHA256: 256}
# RFC 3110 2, RFC 5702 2.1-2.2: RSA/SHA-256 and RSA/SHA-512 keys are at most 4096 bits.
# The largest RSA key every key store of tldsec makes (``hsm/rsakey.check_key_request``);
# a policy asking more is refused where it is written (decision 83).
RSA_MAX_BITS = 4096


class DigestType(IntEnum):
    """DS digest types (RFC 4034 5.1.3, RFC 4509, RFC 6605)."""

    SHA1 = 1
    SHA256 = 2
    SHA384 = 4


# RFC 8624 / the IANA registry: algorithm numbers a DS may name at all.
ASSIGNED_DNSSEC_ALGORITHMS = frozenset({1, 3, 5, 6, 7, 8, 10, 12, 13, 14, 15, 16, 17})
KNOWN_BACKENDS = frozenset({"pkcs11", "file"})
# ICANN Registry Agreement Specification 5 is the model: names of the registry's own
# services that no registrar may register (a policy file may list others).
DEFAULT_RESERVED_LABELS = ("iana", "nic", "rdap", "whois", "www")
_LABEL = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
# keystore.activation: who holds the HSM's activation PIN (DPS 4.2.4, 5.4).
SECURITY_OFFICER = "security-officer"  # the SO, at activation; the home stores none
STORED = "stored"  # a file or variable of the home: demos and tests only
ACTIVATIONS = (SECURITY_OFFICER, STORED)
PRODUCTION_POLICY = "dps"  # the name only a policy that keeps every DPS promise may carry
# (policy_check refuses a "dps" policy whose activation is not SECURITY_OFFICER)


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """How one key role (KSK or ZSK) is made and rolled (DPS 6.1, 6.4)."""

    role: str
    algorithm: Algorithm
    bits: int
    lifetime: timedelta
    prepublish: timedelta
    postpublish: timedelta
    emergency_postpublish: timedelta
    standby: bool = False


@dataclass(frozen=True, slots=True)
class DenialPolicy:
    """NSEC3 parameters (DPS 6.2, RFC 5155, RFC 9276)."""

    nsec3_iterations: int
    nsec3_salt: bytes
    opt_out: bool


@dataclass(frozen=True, slots=True)
class SignaturePolicy:
    """RRSIG validity and reuse (DPS 6.5)."""

    validity_min: timedelta
    validity_max: timedelta
    inception_offset: timedelta
    refresh: timedelta

    @property
    def jitter(self) -> timedelta:
        return self.validity_max - self.validity_min


@dataclass(frozen=True, slots=True)
class TtlPolicy:
    """Resource record TTLs (DPS 6.7)."""

    soa: int
    dnskey: int
    ns: int
    a: int
    aaaa: int
    ds: int
    nsec3: int


@dataclass(frozen=True, slots=True)
class DsPolicy:
    """What the registry accepts as DS data (DPS 3.3)."""

    digest_types: frozenset[int]
    algorithms: frozenset[int]
    max_per_domain: int


@dataclass(frozen=True, slots=True)
class CyclePolicy:
    """How often the zone is rebuilt and how far signatures must reach (DPS 3.5.2)."""

    interval: timedelta
    debounce: timedelta
    safety_margin: timedelta


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    """Audit log retention (DPS 4.4.3)."""

    online_retention: timedelta
    archive_retention: timedelta


@dataclass(frozen=True, slots=True)
class Policy:
    """The whole DPS as the software enforces it."""

    name: str
    allowed_backends: frozenset[str]
    activation: str  # keystore.activation: SECURITY_OFFICER or STORED
    ksk: KeyPolicy
    zsk: KeyPolicy
    denial: DenialPolicy
    signatures: SignaturePolicy
    ttl: TtlPolicy
    ds: DsPolicy
    cycle: CyclePolicy
    audit: AuditPolicy
    # Labels directly below the TLD that are never registered nor delegated
    # ([registry] reserved_labels; ICANN Registry Agreement Specification 5).
    reserved_labels: tuple[str, ...] = DEFAULT_RESERVED_LABELS
    # keystore.backup_before_use (DPS 5.2.4): a key is published or signs only once a
    # checked archive under the SMK holds it; the planner waits for it like a gate.
    backup_before_use: bool = False
    source: str = field(default="<built-in>", compare=False)


def load_policy(path: Path | None = None, *, enforce: bool = True) -> Policy:
    """Load and check a policy file; the built-in DPS policy when ``path`` is None.

    A policy that contradicts itself, or that is named ``dps`` and breaks a DPS number,
    is refused with every such value listed (``policy_check``); ``enforce=False`` (for
    ``tldsec policy check``) returns it so that the findings can be listed."""
    if path is None:
        text = resources.files("tldsec.policies").joinpath("dps.toml").read_text("utf-8")
        source = "<built-in dps.toml>"
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise PolicyError("<file>", f"cannot read {path}: {exc.strerror}") from exc
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError("<file>", f"{source} is not valid TOML: {exc}") from exc
    return policy_from_dict(data, source=source, enforce=enforce)


def policy_from_dict(
    data: dict[str, Any], *, source: str = "<dict>", enforce: bool = True
) -> Policy:
    """Build a ``Policy`` from parsed TOML, checking every field (and, with ``enforce``,
    refusing the findings of ``policy_check.refusals``)."""
    r = _Reader(data)
    policy = Policy(
        name=r.text("name"),
        allowed_backends=_backends(r),
        activation=_activation(r, data),
        ksk=_key_policy(r, "ksk", source),
        zsk=_key_policy(r, "zsk", source),
        denial=_denial(r),
        signatures=_signatures(r),
        ttl=TtlPolicy(
            **{t: r.ttl(f"ttl.{t}") for t in ("soa", "dnskey", "ns", "a", "aaaa", "ds", "nsec3")}
        ),
        ds=_ds(r),
        cycle=CyclePolicy(
            interval=timedelta(seconds=r.integer("cycle.interval_seconds", 60, 86400)),
            debounce=timedelta(seconds=r.integer("cycle.debounce_seconds", 0, 3600)),
            safety_margin=timedelta(hours=r.integer("cycle.safety_margin_hours", 1, 24 * 30)),
        ),
        audit=AuditPolicy(
            online_retention=timedelta(days=r.integer("audit.online_retention_days", 1, 36500)),
            archive_retention=timedelta(days=r.integer("audit.archive_retention_days", 1, 36500)),
        ),
        reserved_labels=_reserved(r),
        backup_before_use=_backup_before_use(r, data),
        source=source,
    )
    r.reject_unknown()
    if enforce:
        found = refusals(policy)
        if found:
            raise PolicyViolation(
                source, [str(f) for f in found], breaks_dps=any(f.breaks_dps for f in found)
            )
    return policy


class _Reader:
    """Reads dotted keys from parsed TOML, remembering which were used."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._used: set[str] = set()

    def get(self, key: str) -> Any:
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise PolicyError(key, "is missing")
            node = node[part]
        self._used.add(key)
        return node

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise PolicyError(key, f"must be a string, not {value!r}")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise PolicyError(key, f"must be true or false, not {value!r}")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise PolicyError(key, f"must be an integer, not {value!r}")
        if not low <= value <= high:
            raise PolicyError(key, f"{value} is outside {low}..{high}")
        return value

    def ttl(self, key: str) -> int:
        # RFC 2181 8: a TTL is an unsigned 31-bit value.
        return self.integer(key, 0, 2**31 - 1)

    def int_list(self, key: str) -> list[int]:
        value = self.get(key)
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise PolicyError(key, f"must be a list of integers, not {value!r}")
        return list(value)

    def has(self, key: str) -> bool:
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def reject_unknown(self) -> None:
        for key in _leaf_keys(self._data):
            if key not in self._used:
                raise PolicyError(key, "is not a policy field (misspelt?)")


def _leaf_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for name, value in data.items():
        full = f"{prefix}{name}"
        if isinstance(value, dict):
            keys.extend(_leaf_keys(value, full + "."))
        else:
            keys.append(full)
    return keys


def _backends(r: _Reader) -> frozenset[str]:
    value = r.get("keystore.allowed_backends")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PolicyError("keystore.allowed_backends", "must be a non-empty list of names")
    unknown = set(value) - KNOWN_BACKENDS
    if unknown:
        raise PolicyError(
            "keystore.allowed_backends",
            f"unknown backend {sorted(unknown)[0]!r} (known: {', '.join(sorted(KNOWN_BACKENDS))})",
        )
    return frozenset(value)


def _backup_before_use(r: _Reader, data: dict[str, Any]) -> bool:
    """``keystore.backup_before_use``; false in a policy written before it existed."""
    keystore = data.get("keystore")
    if not isinstance(keystore, dict) or "backup_before_use" not in keystore:
        return False
    return r.flag("keystore.backup_before_use")


def _activation(r: _Reader, data: dict[str, Any]) -> str:
    """``keystore.activation``; a policy written before it existed keeps a stored PIN."""
    keystore = data.get("keystore")
    if not isinstance(keystore, dict) or "activation" not in keystore:
        return STORED
    value = r.text("keystore.activation")
    if value not in ACTIVATIONS:
        raise PolicyError(
            "keystore.activation", f"{value!r} is not one of {', '.join(ACTIVATIONS)}"
        )
    return value


def _key_policy(r: _Reader, role: str, source: str) -> KeyPolicy:
    number = r.integer(f"{role}.algorithm", 0, 255)
    try:
        algorithm = Algorithm(number)
    except ValueError:
        raise PolicyError(
            f"{role}.algorithm",
            f"algorithm {number} is not one tldsec signs with "
            f"(supported: {', '.join(f'{a.value} {a.name}' for a in Algorithm)})",
        ) from None
    bits = r.integer(f"{role}.bits", 0, 16384)
    fixed = FIXED_KEY_BITS.get(algorithm)
    if fixed is not None:
        if bits != fixed:
            raise PolicyError(
                f"{role}.bits", f"algorithm {number} keys are {fixed} bits (RFC 6605), not {bits}"
            )
    # RFC 8624 / NIST SP 800-131A: RSA keys under 1024 bits are not acceptable.
    elif bits < 1024:
        raise PolicyError(f"{role}.bits", f"RSA keys need at least 1024 bits, not {bits}")
    elif bits > RSA_MAX_BITS:
        raise PolicyError(
            f"{role}.bits",
            f"{source} asks {bits}-bit RSA {role.upper()}s; the key stores of tldsec make "
            f"at most {RSA_MAX_BITS} bits (RFC 3110 2, RFC 5702 2)",
        )
    if bits % 8:
        raise PolicyError(f"{role}.bits", f"{bits} is not a whole number of bytes")
    days = {
        name: timedelta(days=r.integer(f"{role}.{name}_days", 0, 3650))
        for name in ("lifetime", "prepublish", "postpublish", "emergency_postpublish")
    }
    if days["lifetime"] <= timedelta(0):
        raise PolicyError(f"{role}.lifetime_days", "must be at least one day")
    standby = r.flag(f"{role}.standby") if role == "zsk" else False
    return KeyPolicy(role=role, algorithm=algorithm, bits=bits, standby=standby, **days)


def _denial(r: _Reader) -> DenialPolicy:
    if r.flag("denial.opt_out") and not DPS.nsec3_opt_out:
        # DPS 6.2: NSEC3 without opt-out (the number lives in dpsnumbers).
        raise PolicyError("denial.opt_out", "the DPS (6.2) requires NSEC3 without opt-out")
    # RFC 9276 3.1: iterations should be 0; RFC 5155 10.3 caps them by key size (150 for 1024).
    iterations = r.integer("denial.nsec3_iterations", 0, 150)
    salt_hex = r.text("denial.nsec3_salt")
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        raise PolicyError("denial.nsec3_salt", f"{salt_hex!r} is not hexadecimal") from None
    if len(salt) > 255:
        raise PolicyError("denial.nsec3_salt", "is longer than 255 bytes (RFC 5155 3.2)")
    return DenialPolicy(nsec3_iterations=iterations, nsec3_salt=salt, opt_out=False)


def _signatures(r: _Reader) -> SignaturePolicy:
    low = r.integer("signatures.validity_min_days", 1, 365)
    high = r.integer("signatures.validity_max_days", 1, 365)
    offset = r.integer("signatures.inception_offset_seconds", 0, 86400)
    refresh = r.integer("signatures.refresh_days", 1, 365)
    return SignaturePolicy(
        validity_min=timedelta(days=low),
        validity_max=timedelta(days=high),
        inception_offset=timedelta(seconds=offset),
        refresh=timedelta(days=refresh),
    )


def _ds(r: _Reader) -> DsPolicy:
    digests = r.int_list("ds.digest_types")
    for d in digests:
        if d not in {t.value for t in DigestType}:
            raise PolicyError("ds.digest_types", f"unknown digest type {d}")
    algorithms = r.int_list("ds.algorithms")
    for a in algorithms:
        if a not in ASSIGNED_DNSSEC_ALGORITHMS:
            raise PolicyError("ds.algorithms", f"{a} is not an assigned DNSSEC algorithm")
    return DsPolicy(
        digest_types=frozenset(digests),
        algorithms=frozenset(algorithms),
        max_per_domain=r.integer("ds.max_per_domain", 1, 64),
    )


def _reserved(r: _Reader) -> tuple[str, ...]:
    """``[registry] reserved_labels``: optional (older policy files lack it), LDH labels."""
    key = "registry.reserved_labels"
    if not r.has(key):
        return DEFAULT_RESERVED_LABELS
    value = r.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(key, f"must be a list of labels, not {value!r}")
    for label in value:
        if not _LABEL.match(label):
            raise PolicyError(
                key, f"{label!r} is not one lower-case label (letters, digits, inner hyphens)"
            )
    return tuple(sorted(set(value)))

"""What to verify and how: ``VerifyRequest`` (the files), ``VerifyOptions`` (the policy
and the ``[verify]`` settings) and ``ExpectedSigners`` (the key duties of the signing
run, when the cycle knows them), shared by every plan of the driver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tldsec.hsm.base import KeyStore, KeyStoreSpec
from tldsec.policy import Policy
from tldsec.settings import VerifySettings
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.verify.dpsrules import DpsRules
from tldsec.verify.keys import key_tag

EXTERNAL_DEFAULT = ("ldns-verify-zone", "dnssec-verify", "kzonecheck")
# Opens a key store from its spec: how forked workers get their own session.
KeyOpener = Callable[[KeyStoreSpec], KeyStore]
KeyId = tuple[int, int]  # (algorithm, key tag), as an RRSIG names its key


@dataclass(frozen=True, slots=True)
class ExpectedSigners:
    """The key duties of this signing run (from the key manager's SigningConfig)."""

    zone: frozenset[KeyId]
    dnskey: frozenset[KeyId]
    published: frozenset[bytes]  # DNSKEY RDATAs
    # DNSKEY RDATAs of keys that sign without being published: an algorithm rollover's
    # new keys before their DNSKEYs, old ones after (RFC 6781 4.1.4, signconf.ZoneKey)
    unpublished: frozenset[bytes] = frozenset()

    @classmethod
    def from_config(cls, config: SigningConfig) -> ExpectedSigners:
        def ids(keys: tuple[ZoneKey, ...]) -> frozenset[KeyId]:
            return frozenset((int(k.algorithm), key_tag(k.dnskey_rdata)) for k in keys)

        return cls(
            zone=ids(config.zone_signers),
            dnskey=ids(config.dnskey_signers),
            published=frozenset(k.dnskey_rdata for k in config.published),
            unpublished=frozenset(k.dnskey_rdata for k in config.keys if k.unpublished_signer),
        )


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """How to verify: the policy, and the settings of the ``[verify]`` table."""

    policy: Policy
    horizon: timedelta | None = None  # None: the policy's cycle interval + safety margin
    workers: int = 0  # 0: every core
    second_sample: int | None = 2000  # RRsets re-signed by dnspython; None: all of them
    external: tuple[str, ...] = EXTERNAL_DEFAULT
    external_timeout: float = 1800.0
    expected: ExpectedSigners | None = None  # the signing run's key duties, when known
    split_bytes: int = 16 << 20  # zones at least this big are checked in parts ...
    part_bytes: int = 4 << 20  # ... of about this size
    # The incremental mode (``incremental``, ``mode``): on when a zone patch allows it,
    # with a full verification at least this often.
    incremental: bool = True
    full_every_hours: float = 24.0
    full_every_cycles: int = 96  # 0: no limit by count

    @classmethod
    def from_settings(
        cls,
        policy: Policy,
        settings: VerifySettings,
        expected: ExpectedSigners | None = None,
    ) -> VerifyOptions:
        """The options a home's ``[verify]`` table gives (what the cycle uses)."""
        return cls(
            policy=policy,
            horizon=timedelta(hours=settings.horizon_hours) if settings.horizon_hours else None,
            workers=settings.workers,
            second_sample=settings.second_sample,
            external=settings.external,
            external_timeout=float(settings.external_timeout_seconds),
            expected=expected,
            incremental=settings.incremental,
            full_every_hours=float(settings.full_every_hours),
            full_every_cycles=settings.full_every_cycles,
        )

    @property
    def rules(self) -> DpsRules:
        """The DPS numbers the zone must show, from the policy (``dpsrules``); during an
        algorithm rollover, the other algorithm's keys the signing configuration names."""
        expected = self.expected
        keys = expected.published | expected.unpublished if expected is not None else ()
        return DpsRules.from_policy(self.policy, rollover_keys=keys)

    @property
    def unpublished_signers(self) -> frozenset[bytes]:
        """DNSKEY RDATAs of keys the configuration has sign without publishing them."""
        return self.expected.unpublished if self.expected is not None else frozenset()

    def horizon_delta(self) -> timedelta:
        if self.horizon is not None:
            return self.horizon
        # DPS 6.5 / policy [cycle]: a signature must outlive the next cycle plus a margin.
        return self.policy.cycle.interval + self.policy.cycle.safety_margin


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """What to verify: the candidate and what it is compared with."""

    signed: Path
    origin: str
    trust_anchor: Path  # DS (what the parent publishes) or DNSKEY records for the apex
    unsigned: Path | None = None
    previous: Path | None = None  # the last good signed zone: its serial must be lower
    display_name: str | None = None  # how the report names the zone file
    patch: Path | None = None  # the zone patch from ``previous``; None: <signed>.patch

"""Key records + now -> the SigningConfig the signer follows; pure.

Which keys are in the DNSKEY RRset and what each signs follows from their state at
``now`` alone: published, active and retired keys are published; only an active KSK
signs the DNSKEY RRset and only an active ZSK signs the zone. A retired key therefore
never signs again (DPS 5.3), and at a ZSK switch nothing is signed with the old key
(DPS 6.4), so the signer re-signs every RRset with the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tldsec.errors import KeyManagementError
from tldsec.keys.state import KeyRecord, Role
from tldsec.policy import Policy
from tldsec.signconf import SigningConfig, ZoneKey


@dataclass(frozen=True, slots=True)
class ZoneView:
    """The zone's keys at one instant, by key tag: what a resolver would see."""

    published: tuple[int, ...]  # in the DNSKEY RRset
    signing_dnskey: tuple[int, ...]  # RRSIGs over the DNSKEY RRset
    signing_zone: tuple[int, ...]  # RRSIGs over every other RRset


def zone_keys(keys: Sequence[KeyRecord], now: datetime) -> tuple[ZoneKey, ...]:
    """The zone's keys at ``now`` with their duties, KSKs first, then by key tag."""
    out: list[ZoneKey] = []
    for k in sorted(keys, key=lambda k: (k.role is not Role.KSK, k.key_tag, k.key_id)):
        publish, signs = k.publishes_at(now), k.signs_at(now)
        if not publish and not signs:
            continue
        out.append(
            ZoneKey(
                key_id=k.key_id,
                flags=k.flags,
                algorithm=k.algorithm,
                public_key=k.public_key,
                publish=publish,
                sign_dnskey=signs and k.role is Role.KSK,
                sign_zone=signs and k.role is Role.ZSK,
                # an algorithm rollover's presigning or unpublished key (RFC 6781 4.1.4)
                unpublished_signer=not publish,
            )
        )
    return tuple(out)


def signing_config(
    keys: Sequence[KeyRecord],
    policy: Policy,
    now: datetime,
    foreign: Sequence[ZoneKey] = (),
) -> SigningConfig:
    """The signer's instructions at ``now``; refused if no KSK or no ZSK is active.
    ``foreign``: another operator's DNSKEYs, published beside ours and signing nothing
    (an operator transfer, keys/transfer.py)."""
    zk = (*zone_keys(keys, now), *foreign)
    for role, duty in ((Role.KSK, "sign_dnskey"), (Role.ZSK, "sign_zone")):
        if not any(getattr(k, duty) for k in zk):
            raise KeyManagementError(
                f"no active {role} at {now.isoformat()}: the zone cannot be signed "
                "(run 'tldsec init' to create the first keys, or see 'tldsec keys plan')"
            )
    return SigningConfig.from_policy(policy, zk)


def zone_view(keys: Sequence[KeyRecord], now: datetime) -> ZoneView:
    """Key tags published and signing at ``now``."""
    by_id = {k.key_id: k for k in keys}
    zk = zone_keys(keys, now)
    return ZoneView(
        published=tuple(sorted(by_id[k.key_id].key_tag for k in zk if k.publish)),
        signing_dnskey=tuple(sorted(by_id[k.key_id].key_tag for k in zk if k.sign_dnskey)),
        signing_zone=tuple(sorted(by_id[k.key_id].key_tag for k in zk if k.sign_zone)),
    )

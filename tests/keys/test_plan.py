"""Key records + now -> SigningConfig: what is published and what signs what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.keys.conftest import T0
from tldsec.errors import KeyManagementError
from tldsec.keys import rollover
from tldsec.keys.plan import signing_config, zone_view
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.state import KeyRecord, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

DAY = timedelta(days=1)


def tags(keys: tuple[KeyRecord, ...], role: Role) -> list[int]:
    return [k.key_tag for k in sorted(keys, key=lambda k: k.created) if k.role is role]


def test_after_bootstrap_ksk_signs_dnskey_zsk_signs_zone_standby_only_published(
    policy: Policy, factory: KeyFactory
) -> None:
    keys = rollover.bootstrap((), policy, T0, factory, "init").keys
    ksk, zsk, standby = (k for k in keys)
    config = signing_config(keys, policy, T0)
    zsks = sorted([zsk, standby], key=lambda k: k.key_tag)
    assert [k.key_id for k in config.published] == [ksk.key_id, *(k.key_id for k in zsks)]
    assert [k.key_id for k in config.dnskey_signers] == [ksk.key_id]
    assert [k.key_id for k in config.zone_signers] == [zsk.key_id]
    assert next(k for k in config.keys if k.key_id == ksk.key_id).flags == 257
    assert config.dnskey_ttl == policy.ttl.dnskey
    assert config.validity_min == policy.signatures.validity_min
    view = zone_view(keys, T0)
    assert view.signing_dnskey == (ksk.key_tag,)
    assert view.signing_zone == (zsk.key_tag,)
    assert view.published == tuple(sorted(k.key_tag for k in keys))


def test_at_the_zsk_switch_nothing_is_signed_with_the_old_key(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = rollover.bootstrap((), policy, T0, factory, "init").keys
    old, new = tags(keys, Role.ZSK)
    switch = T0 + 90 * DAY
    keys = rollover.run_due(keys, policy, timing, switch, factory).keys
    before = zone_view(keys, switch - timedelta(seconds=1))
    after = zone_view(keys, switch)
    assert before.signing_zone == (old,)
    assert after.signing_zone == (new,)
    assert old in after.published  # post-published (DPS 6.4), signing nothing
    removed = T0 + 97 * DAY
    keys = rollover.run_due(keys, policy, timing, removed, factory).keys
    assert old not in zone_view(keys, removed).published
    # The history stays exact: the view of an earlier instant is unchanged.
    assert zone_view(keys, switch) == after


def test_no_active_key_no_signing_config(policy: Policy) -> None:
    with pytest.raises(KeyManagementError, match="no active ksk"):
        signing_config((), policy, T0)

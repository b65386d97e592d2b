"""RFC 7583 intervals computed from the DPS policy's TTLs and delays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tldsec.keys import timing as rfc7583
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

H = timedelta(hours=1)
M15 = timedelta(minutes=15)


def test_parameters_come_from_the_dps_ttls_and_cycle(timing: TimingParams) -> None:
    assert timing.dnskey_ttl == 12 * H  # DPS 6.7: DNSKEY 43200 s
    assert timing.max_zone_ttl == 24 * H  # DPS 6.7: SOA, NS, A, AAAA, DS 86400 s
    assert timing.parent_ds_ttl == 24 * H  # the root's DS TTL, 86400 s
    assert timing.propagation_delay == H  # DPS 3.5.2: in the zone within the hour
    assert timing.signing_delay == M15  # one cycle re-signs everything


def test_zsk_pre_publication_intervals_rfc7583_3_2_1(timing: TimingParams) -> None:
    # Ipub = Dprp + TTLkey; Iret = Dsgn + Dprp + TTLsig (each + 1 h safety margin)
    assert rfc7583.zsk_publish_interval(timing) == 14 * H
    assert rfc7583.zsk_retire_interval(timing) == 26 * H + M15


def test_ksk_intervals_rfc7583_3_3(timing: TimingParams) -> None:
    # 3.3.1: IpubC = DprpC + TTLkey; IpubP = DprpP + TTLds (DprpP 12 h by default)
    assert rfc7583.ksk_publish_interval(timing) == 14 * H
    assert rfc7583.ds_publish_interval(timing) == 37 * H
    # 3.3.2: the old DS goes once no cached DNSKEY RRset is signed only by the old KSK
    assert rfc7583.ksk_retire_interval(timing) == 14 * H + M15


def test_overrides_and_negative_values(policy: Policy) -> None:
    t = TimingParams.from_policy(
        policy, propagation_delay=timedelta(0), safety_margin=timedelta(0), max_zone_ttl=2 * H
    )
    assert rfc7583.zsk_retire_interval(t) == 2 * H + M15
    with pytest.raises(ValueError, match="negative"):
        TimingParams.from_policy(policy, safety_margin=-H)


def test_a_gradual_re_signer_stretches_dsgn_to_the_signature_lifetime(policy: Policy) -> None:
    t = TimingParams.from_policy(policy, gradual_resign=True)
    assert t.signing_delay == timedelta(days=4)  # validity_max 8 days - refresh 4 days
    assert rfc7583.zsk_retire_interval(t) == timedelta(days=5, hours=2)

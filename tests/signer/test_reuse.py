"""Signature reuse (DPS 6.5): unchanged RRsets keep their RRSIGs; changes, key changes
and signatures near expiry are signed again."""

from __future__ import annotations

from datetime import timedelta

from tests.signer.conftest import NOW, ZONE, Keys
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.signer import SignResult, sign_zone


def sign(
    keys: Keys,
    text: str,
    previous: SignResult | None = None,
    later: timedelta = timedelta(0),
    config: object = None,
) -> SignResult:
    from tldsec.signconf import SigningConfig

    cfg = config if isinstance(config, SigningConfig) else keys.config
    return sign_zone(
        read_zone_text(text, "example."),
        cfg,
        keys.store,
        NOW + later,
        previous=previous.zone if previous else None,
    )


def test_a_second_run_on_an_unchanged_zone_signs_nothing(keys: Keys) -> None:
    first = sign(keys, ZONE)
    second = sign(keys, ZONE, first, timedelta(hours=1))
    assert second.stats.signatures_made == 0
    assert second.stats.signatures_reused == first.stats.signatures_made


def test_changing_k_delegations_signs_only_what_they_touch(keys: Keys) -> None:
    base = ZONE + "".join(f"d{i} NS ns.hoster.net.\n" for i in range(50))
    first = sign(keys, base)
    k = 3
    changed = base.replace("d1 NS ns.hoster.net.", "d1 NS ns.other.net.")
    changed = changed.replace("d2 NS ns.hoster.net.\n", "")  # removed
    changed += "new1 NS ns.hoster.net.\n"  # added
    changed += "d3 DS 1 8 2 " + "AB" * 32 + "\n"  # DS added
    changed = changed.replace("2024010100", "2024010101")
    second = sign(keys, changed, first, timedelta(hours=1))
    # SOA; NSEC3 of d2's predecessor and new1's predecessor, new1 itself; d3's NSEC3 (DS
    # in its bitmap) and d3's new DS. d1's NS change touches no signed RRset.
    assert second.stats.signatures_made <= 1 + 2 * k + 2
    assert second.stats.signatures_made >= 4
    unsigned_d1 = second.zone.get(b"\x02d1\x07example\x00", RRType.NS)
    assert unsigned_d1 is not None and not unsigned_d1.sigs


def test_signatures_near_expiry_are_renewed(keys: Keys) -> None:
    first = sign(keys, ZONE)
    # 6 days on, every signature has less than the 4-day refresh threshold left.
    later = sign(keys, ZONE, first, timedelta(days=6))
    assert later.stats.signatures_reused == 0
    assert later.stats.signatures_made == first.stats.signatures_made


def test_a_new_zsk_resigns_everything_but_the_dnskey_rrset_changes_too(keys: Keys) -> None:
    first = sign(keys, ZONE)
    new_zsk = keys.store.generate_key(label="zsk2", algorithm=keys.zsk.algorithm, bits=1024)
    config = keys.make_config(new_zsk)
    second = sign(keys, ZONE, first, timedelta(hours=1), config)
    # The old ZSK signs nothing any more ("nothing is signed with it", DPS 6.4).
    assert second.stats.signatures_reused == 0
    old_tag = first.zone.get(first.zone.origin, RRType.SOA)
    assert old_tag is not None
    for r in second.zone.rrsets():
        for sig in r.sigs:
            assert sig not in old_tag.sigs

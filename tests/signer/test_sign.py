"""Signing a zone: what gets signed, what does not, the NSEC3 chain, and that the result
validates with dnspython and with ldns-verify-zone."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rrset
import pytest

from tests.signer.conftest import NOW, ZONE, Keys
from tldsec.dnscore import names, nsec3, rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.errors import NoUsableKey, ZoneContentError
from tldsec.signconf import SigningConfig
from tldsec.signer import sign_zone
from tldsec.signer.rrsig import RrsigFields


def signed(keys: Keys, text: str = ZONE, config: SigningConfig | None = None) -> Zone:
    return sign_zone(read_zone_text(text, "example."), config or keys.config, keys.store, NOW).zone


def n(text: str) -> bytes:
    return names.to_wire(text)


def to_dnspython(r: RRset, rtype: int | None = None) -> dns.rrset.RRset:
    rtype = r.rtype if rtype is None else rtype
    datas = r.sigs if rtype == RRType.RRSIG else r.rdatas
    return dns.rrset.from_text_list(
        names.to_text(r.owner),
        r.ttl,
        "IN",
        dns.rdatatype.RdataType.make(rtype).name,
        [rdata.to_text(rtype, d) for d in datas],
    )


def test_every_signed_rrset_validates_with_dnspython(keys: Keys) -> None:
    zone = signed(keys)
    dnskey = zone.get(zone.origin, RRType.DNSKEY)
    assert dnskey is not None
    key_rrset = to_dnspython(dnskey)
    checked = 0
    for r in zone.rrsets():
        if r.sigs:
            dns.dnssec.validate(
                to_dnspython(r),
                to_dnspython(r, RRType.RRSIG),
                {dns.name.from_text("example."): key_rrset},
                now=NOW.timestamp(),
            )
            checked += 1
    assert checked > 10


def test_what_is_signed_and_what_is_not(keys: Keys) -> None:
    zone = signed(keys)

    def sigs(owner: str, rtype: int) -> int:
        r = zone.get(n(owner), rtype)
        assert r is not None, (owner, rtype)
        return len(r.sigs)

    assert sigs("example.", RRType.SOA) == 1
    assert sigs("example.", RRType.NS) == 1
    assert sigs("example.", RRType.DNSKEY) == 1
    assert sigs("example.", RRType.NSEC3PARAM) == 1
    assert sigs("a.nic.example.", RRType.A) == 1
    assert sigs("secure.example.", RRType.DS) == 1
    # RFC 4035 2.2: delegation NS and glue are not signed.
    assert sigs("secure.example.", RRType.NS) == 0
    assert sigs("insecure.example.", RRType.NS) == 0
    assert sigs("ns1.secure.example.", RRType.A) == 0
    assert sigs("glue-at-cut.example.", RRType.A) == 0
    # DPS 6.6: orphan glue is authoritative and signed.
    assert sigs("orphan.gone.example.", RRType.A) == 1


def test_dnskey_rrset_is_signed_by_the_ksk_and_the_rest_by_the_zsk(keys: Keys) -> None:
    zone = signed(keys)
    ksk_tag = keys.config.dnskey_signers[0]
    zsk_tag = keys.config.zone_signers[0]
    from tldsec.dnscore.dnskey import key_tag

    for r in zone.rrsets():
        for sig in r.sigs:
            f = RrsigFields.parse(sig)
            want = ksk_tag if r.rtype == RRType.DNSKEY else zsk_tag
            assert f.key_tag == key_tag(want.dnskey_rdata)
            assert f.signer == zone.origin
            assert f.original_ttl == r.ttl
            # DPS 6.5: validity between six and eight days, inception a little in the past.
            assert 6 * 86400 <= f.expiration - f.inception <= 8 * 86400
            assert f.inception < NOW.timestamp()


def test_nsec3_chain_covers_exactly_the_right_names(keys: Keys) -> None:
    zone = signed(keys)
    expected = {
        "example.": {"SOA", "NS", "DNSKEY", "NSEC3PARAM", "RRSIG"},
        "a.nic.example.": {"A", "AAAA", "RRSIG"},
        "b.nic.example.": {"A", "RRSIG"},
        "nic.example.": set(),  # empty non-terminal
        "secure.example.": {"NS", "DS", "RRSIG"},
        "insecure.example.": {"NS"},
        "xn--bcher-kva.example.": {"NS"},
        "a.b.c.ent.example.": {"NS"},
        "b.c.ent.example.": set(),
        "c.ent.example.": set(),
        "ent.example.": set(),
        "glue-at-cut.example.": {"NS"},
        "orphan.gone.example.": {"A", "RRSIG"},
        "gone.example.": set(),
    }
    found = {}
    chain = sorted(
        (r for r in zone.rrsets() if r.rtype == RRType.NSEC3),
        key=lambda r: names.labels(r.owner)[0],
    )
    for r in chain:
        assert len(r.rdatas) == 1 and len(r.sigs) == 1
        assert r.ttl == 3600  # RFC 9077: min(SOA TTL, SOA MINIMUM)
        found[names.labels(r.owner)[0].decode()] = r.rdatas[0]
    by_hash = {rdata.base32hex(nsec3.nsec3_hash(n(name), b"", 0)): name for name in expected}
    assert set(found) == set(by_hash)  # no glue, no occluded names
    hashes = sorted(found)
    for i, h in enumerate(hashes):
        text = rdata.nsec3_to_text(found[h]).split()
        assert text[:4] == ["1", "0", "0", "-"]  # SHA-1, no opt-out, RFC 9276
        assert text[4] == hashes[(i + 1) % len(hashes)]  # closed, sorted chain
        assert set(text[5:]) == expected[by_hash[h]], by_hash[h]


@pytest.mark.skipif(shutil.which("ldns-verify-zone") is None, reason="ldnsutils missing")
def test_ldns_verify_zone_accepts_the_signed_zone(keys: Keys, tmp_path: Path) -> None:
    out = tmp_path / "signed.zone"
    write_zone_atomic(signed(keys), out)
    result = subprocess.run(
        ["ldns-verify-zone", str(out)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda z: z.replace("@ SOA", "; @ SOA"), "no SOA"),
        (lambda z: z.replace("@ NS a.nic\n@ NS b.nic\n", ""), "no NS RRset at the origin"),
        (lambda z: z + "@ CNAME elsewhere.net.\n", "CNAME beside other data"),
        (lambda z: z + "www CNAME a.nic\nwww A 192.0.2.7\n", "CNAME beside other data"),
        (lambda z: z + "@ DNSKEY 256 3 8 AwEAAQ==\n", "DNSKEY in the unsigned input"),
        (lambda z: z + "x NSEC3PARAM 1 0 0 -\n", "NSEC3PARAM in the unsigned input"),
        (lambda z: z + "nods DS 1 8 2 " + "AB" * 32 + "\n", "DS without NS"),
        (lambda z: z + 'secure TXT "x"\n', "only NS, DS and glue belong at a zone cut"),
        (lambda z: z + "sub SOA a. b. 1 2 3 4 5\n", "SOA away from the origin"),
    ],
)
def test_bad_zones_are_refused_naming_the_owner(keys: Keys, change: object, words: str) -> None:
    assert callable(change)
    with pytest.raises(ZoneContentError, match=words):
        signed(keys, change(ZONE))


def test_a_zone_with_no_signing_key_is_refused(keys: Keys) -> None:
    only_ksk = SigningConfig.from_policy(
        keys.config.__class__ and __import__("tldsec.policy").policy.load_policy(),
        (keys.config.keys[0],),
    )
    with pytest.raises(NoUsableKey, match="sign the zone"):
        signed(keys, config=only_ksk)


def test_signatures_stay_valid_longer_than_the_refresh_threshold(keys: Keys) -> None:
    zone = signed(keys)
    soa = zone.get(zone.origin, RRType.SOA)
    assert soa is not None
    f = RrsigFields.parse(soa.sigs[0])
    assert f.expiration - NOW.timestamp() > timedelta(days=4).total_seconds()

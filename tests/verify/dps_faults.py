"""Policy faults for the corruption suite: zones signed for real (the signer, the memory
key store) with numbers that break the DPS (6.1-6.7) but are otherwise valid DNSSEC, so
that only the gate's own check of the DPS numbers can refuse them. The key store plays
no part in that refusal: ``tests/verify/test_dps_cli.py`` runs them with
``--no-keystore``.

Each mutation signs from the case's own unsigned file, so it works on zone A of the
corruption suite and on zone B of the incremental tests alike.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.verify.conftest import NOW, ORIGIN, Case, Mutation, wire
from tldsec.dnscore import nsec3, rdata
from tldsec.dnscore.dnskey import ds_rdata, key_tag
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset
from tldsec.hsm.base import KeyInfo
from tldsec.policy import Algorithm
from tldsec.signconf import SigningConfig
from tldsec.signer.rrsig import RrsigFields, rrsig_header, signed_data

DAY = timedelta(days=1)


def _key(c: Case, label: str, algorithm: Algorithm, bits: int) -> KeyInfo:
    """A key of the session's store, made once per label (RSA generation is slow)."""
    for info in c.keys.store.list_keys():
        if info.label == label:
            return info
    return c.keys.store.generate_key(label=label, algorithm=algorithm, bits=bits)


def _resign_all(c: Case, config: SigningConfig, text: str | None = None) -> None:
    """The case's zone signed again from its unsigned file (or ``text``) with ``config``;
    the trust anchor becomes the DS of ``config``'s first KSK."""
    if text is not None:
        c.unsigned.write_text(text, "utf-8")
    c.zone = c.keys.sign(c.unsigned.read_text("utf-8"), config=config)
    ksk = next(k for k in config.keys if k.flags == 257)
    ds = ds_rdata(wire(ORIGIN), ksk.dnskey_rdata, 2)
    c.anchor.write_text(f"{ORIGIN} 86400 IN DS {rdata.to_text(RRType.DS, ds)}\n", "utf-8")


def _with_keys(c: Case, ksk: KeyInfo, zsk: KeyInfo) -> SigningConfig:
    k = c.keys
    return replace(k.config, keys=(k.zone_key(ksk, ksk=True), k.zone_key(zsk, ksk=False)))


def thirty_day_signatures(c: Case) -> None:
    # DPS 6.5: six to eight days. Thirty days outlive every horizon, so only the
    # validity length shows it.
    _resign_all(c, replace(c.keys.config, validity_min=30 * DAY, validity_max=30 * DAY))


def three_day_signatures(c: Case) -> None:
    # Still valid beyond the next cycle plus the 48 h margin, but shorter than DPS 6.5.
    _resign_all(c, replace(c.keys.config, validity_min=3 * DAY, validity_max=3 * DAY))


def signatures_without_jitter(c: Case) -> None:
    # Seven days each, within DPS 6.5's range, but all alike: "jittered" is not met.
    _resign_all(c, replace(c.keys.config, validity_min=7 * DAY, validity_max=7 * DAY))


def zsk_of_2048_bits(c: Case) -> None:
    zsk = _key(c, "dps-zsk-2048", Algorithm.RSASHA256, 2048)
    _resign_all(c, _with_keys(c, c.keys.ksk, zsk))


def ksk_of_1024_bits(c: Case) -> None:
    ksk = _key(c, "dps-ksk-1024", Algorithm.RSASHA256, 1024)
    _resign_all(c, _with_keys(c, ksk, c.keys.zsk))


def rsasha512_zone(c: Case) -> None:
    # DPS 6.1/6.3: RSASHA256 only; the key sizes are the DPS's, the algorithm is not.
    ksk = _key(c, "dps-ksk-sha512", Algorithm.RSASHA512, 2048)
    zsk = _key(c, "dps-zsk-sha512", Algorithm.RSASHA512, 1024)
    _resign_all(c, _with_keys(c, ksk, zsk))


def _extra_dnskey(c: Case, flags: int, protocol: int) -> None:
    """A published, non-signing ZSK (a standby) whose DNSKEY has ``flags`` and
    ``protocol``; the DNSKEY RRset is signed again by the KSK with its old times."""
    standby = _key(c, "dps-standby", Algorithm.RSASHA256, 1024)
    dnskey = c.rrset(ORIGIN, RRType.DNSKEY)
    rd = flags.to_bytes(2, "big") + bytes((protocol, int(standby.algorithm))) + standby.public_key
    dnskey.rdatas = sorted([*dnskey.rdatas, rd])
    ksk_rdata = c.keys.zone_key(c.keys.ksk, ksk=True).dnskey_rdata
    tag = key_tag(ksk_rdata)
    old = next(RrsigFields.parse(s) for s in dnskey.sigs if RrsigFields.parse(s).key_tag == tag)
    header = rrsig_header(dnskey, 8, tag, c.zone.origin, old.inception, old.expiration)
    dnskey.sigs = [header + c.keys.store.sign(c.keys.ksk.key_id, signed_data(header, dnskey))]


def dnskey_protocol_2(c: Case) -> None:
    _extra_dnskey(c, 256, 2)


def revoked_dnskey(c: Case) -> None:
    # RFC 5011 REVOKE: tldsec's key manager never sets it (rollovers are DPS 6.4's).
    _extra_dnskey(c, 256 | 0x80, 3)


def _nsec3_of(c: Case, name: str) -> RRset:
    owner = nsec3.hashed_owner(nsec3.nsec3_hash(wire(name), b"", 0), wire(ORIGIN))
    r = c.zone.get(owner, RRType.NSEC3)
    assert r is not None
    return r


def one_nsec3_other_iterations(c: Case) -> None:
    r = _nsec3_of(c, "secure")
    rd = bytearray(r.rdatas[0])
    rd[2:4] = (5).to_bytes(2, "big")  # iterations (RFC 5155 3.2)
    r.rdatas = [bytes(rd)]
    c.keys.resign(c.zone, r)


def nsec3param_salt(c: Case) -> None:
    # Signed for real with a salt: NSEC3PARAM and every NSEC3 agree with each other, and
    # the policy (RFC 9276: no salt) is the only thing they disagree with.
    _resign_all(c, replace(c.keys.config, nsec3_salt=b"\xab\xcd"))


def nsec3param_iterations(c: Case) -> None:
    _resign_all(c, replace(c.keys.config, nsec3_iterations=10))


def dnskey_ttl(c: Case) -> None:
    _resign_all(c, replace(c.keys.config, dnskey_ttl=3600))


def nsec3_ttl(c: Case) -> None:
    # The signer takes the NSEC3 TTL from the SOA MINIMUM (RFC 5155 3): an unsigned zone
    # with MINIMUM 7200 gives NSEC3 TTL 7200, not DPS 6.7's 3600.
    text = c.unsigned.read_text("utf-8").replace(" 1209600 3600", " 1209600 7200")
    _resign_all(c, c.keys.config, text)


def soa_minimum_below_nsec3_ttl(c: Case) -> None:
    # A SOA MINIMUM of 600 with NSEC3 records of TTL 3600 (a signer that ignores RFC 9077):
    # every NSEC3 has the DPS's TTL, but denials are cached for 600 s.
    text = c.unsigned.read_text("utf-8").replace(" 1209600 3600", " 1209600 600")
    _resign_all(c, c.keys.config, text)
    for rrset in list(c.zone.rrsets()):
        if rrset.rtype == RRType.NSEC3:
            rrset.ttl = 3600
            c.keys.resign(c.zone, rrset)


def inception_within_skew(c: Case) -> None:
    # Signed 30 minutes after the time the case is verified at, with the 1 h inception
    # offset: the inception lies 30 minutes before that time, so a resolver whose clock
    # is 31 minutes slow rejects it. From ``verify_at``: NOW for the library's checks, the
    # real clock for the CLI's; either alone once failed a long run with the other.
    later = c.keys.sign(c.unsigned.read_text("utf-8"), now=c.verify_at + timedelta(minutes=30))
    c.rrset("b.nic", RRType.A).sigs = list(later.get(wire("b.nic"), RRType.A).sigs)  # type: ignore[union-attr]


def inception_in_future(c: Case) -> None:
    later = c.keys.sign(c.unsigned.read_text("utf-8"), now=NOW + timedelta(hours=3))
    c.rrset("a.nic", RRType.A).sigs = list(later.get(wire("a.nic"), RRType.A).sigs)  # type: ignore[union-attr]


def opt_out_on_one(c: Case) -> None:
    r = _nsec3_of(c, "insecure")
    rd = bytearray(r.rdatas[0])
    rd[1] |= 0x01  # RFC 5155 3.1.2.1 Opt-Out
    r.rdatas = [bytes(rd)]
    c.keys.resign(c.zone, r)


DPS_FAULTS: list[tuple[str, Mutation, str, str, str]] = [
    # (fault, mutation, check that fails, owner, fragment of the reason)
    ("30-day signatures", thirty_day_signatures, "signatures", "", "DPS 6.5"),
    ("3-day signatures", three_day_signatures, "signatures", "", "validity 3 d"),
    ("signatures without jitter", signatures_without_jitter, "signatures", "", "no jitter"),
    ("2048-bit ZSK", zsk_of_2048_bits, "dnskey", "example.", "2048-bit ZSK"),
    ("1024-bit KSK", ksk_of_1024_bits, "dnskey", "example.", "1024-bit KSK"),
    ("RSASHA512 zone", rsasha512_zone, "dnskey", "example.", "algorithm 10"),
    ("RSASHA512 signatures", rsasha512_zone, "signatures", "", "algorithm 10"),
    ("DNSKEY protocol 2", dnskey_protocol_2, "dnskey", "example.", "protocol 2"),
    ("revoked DNSKEY", revoked_dnskey, "dnskey", "example.", "flags 384"),
    ("NSEC3 opt-out on one", opt_out_on_one, "nsec3", "", "DPS 6.2"),
    ("one NSEC3 with other iterations", one_nsec3_other_iterations, "nsec3", "", "5 iterations"),
    ("NSEC3PARAM salt", nsec3param_salt, "nsec3", "example.", "salt abcd"),
    ("NSEC3PARAM iterations", nsec3param_iterations, "nsec3", "example.", "10 iterations"),
    ("wrong DNSKEY TTL", dnskey_ttl, "ttl", "example.", "TTL 3600"),
    ("wrong NSEC3 TTL", nsec3_ttl, "ttl", "", "TTL 7200"),
    ("SOA MINIMUM below the NSEC3 TTL", soa_minimum_below_nsec3_ttl, "ttl", "example.", "RFC 9077"),
    (
        "RRSIG inception in the future",
        inception_in_future,
        "signatures",
        "a.nic.example.",
        "inception",
    ),
    (
        "RRSIG inception within the skew",
        inception_within_skew,
        "signatures",
        "b.nic.example.",
        "clock skew",
    ),
]

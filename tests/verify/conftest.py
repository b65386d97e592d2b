"""A small signed zone, made by the real signer at the real current time, and the means to
break it in one precise way (tests may use the signer; the verifier may not).

External validators check against the real clock, so everything here is signed "now".
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tldsec.dnscore import names, rdata
from tldsec.dnscore.dnskey import ds_rdata, key_tag
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.hsm.base import KeyInfo
from tldsec.hsm.memory import MemoryKeyStore, forget_named_store
from tldsec.hsm.open import open_keystore
from tldsec.policy import Algorithm, Policy, load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone
from tldsec.signer.rrsig import RrsigFields, rrsig_header, signed_data
from tldsec.verify.driver import verify_zone
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.report import Report

ORIGIN = "example."
SERIAL = 2024010100

# Shaped like a TLD: apex with in-zone name servers, delegations with and without DS,
# in-bailiwick glue (also deeper below a cut), glue at the cut itself, an empty
# non-terminal above a delegation, an IDN, and orphan glue (authoritative, signed).
UNSIGNED = f"""\
$ORIGIN example.
$TTL 86400
@ SOA a.nic hostmaster.nic {SERIAL} 1800 900 1209600 3600
@ NS a.nic
@ NS b.nic
a.nic A 192.0.2.1
a.nic AAAA 2001:db8::1
b.nic A 192.0.2.2
secure NS ns1.secure
secure NS ns.hoster.net.
secure DS 12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE3AC2D9F6D8E8A0C04E2A85E1
ns1.secure A 192.0.2.53
ns1.deep.secure A 192.0.2.54
insecure NS ns1.hoster.net.
insecure NS ns2.hoster.net.
xn--bcher-kva NS ns.hoster.net.
a.b.c.ent NS ns.hoster.net.
glue-at-cut NS glue-at-cut
glue-at-cut NS ns.hoster.net.
glue-at-cut A 192.0.2.80
orphan.gone A 192.0.2.99
"""


def wire(name: str) -> bytes:
    return names.to_wire(name if name.endswith(".") else f"{name}.example.")


@dataclass
class Keys:
    """A KSK and a ZSK in a named in-memory store (forked workers see it too)."""

    store: MemoryKeyStore
    ksk: KeyInfo
    zsk: KeyInfo
    policy: Policy

    def zone_key(self, info: KeyInfo, *, ksk: bool, signs: bool = True) -> ZoneKey:
        return ZoneKey(
            info.key_id,
            257 if ksk else 256,
            info.algorithm,
            info.public_key,
            publish=True,
            sign_dnskey=ksk and signs,
            sign_zone=(not ksk) and signs,
        )

    @property
    def config(self) -> SigningConfig:
        return SigningConfig.from_policy(
            self.policy, (self.zone_key(self.ksk, ksk=True), self.zone_key(self.zsk, ksk=False))
        )

    @property
    def zsk_tag(self) -> int:
        return key_tag(self.zone_key(self.zsk, ksk=False).dnskey_rdata)

    def ds(self) -> str:
        """The DS the parent publishes for the KSK (SHA-256)."""
        dnskey = self.zone_key(self.ksk, ksk=True).dnskey_rdata
        return (
            f"{ORIGIN} 86400 IN DS {rdata.to_text(RRType.DS, ds_rdata(wire(ORIGIN), dnskey, 2))}\n"
        )

    def sign(
        self,
        text: str = UNSIGNED,
        *,
        now: datetime | None = None,
        config: SigningConfig | None = None,
    ) -> Zone:
        unsigned = read_zone_text(text, ORIGIN)
        return sign_zone(unsigned, config or self.config, self.store, now or NOW).zone

    def resign(self, zone: Zone, rrset: RRset) -> None:
        """Sign ``rrset`` again with the ZSK, keeping its first RRSIG's times: a change
        made this way leaves every signature valid, so only the change itself is a fault."""
        old = RrsigFields.parse(rrset.sigs[0]) if rrset.sigs else None
        inception = old.inception if old else int(NOW.timestamp()) - 3600
        expiration = old.expiration if old else int(NOW.timestamp()) + 7 * 86400
        header = rrsig_header(rrset, 8, self.zsk_tag, zone.origin, inception, expiration)
        rrset.sigs = [header + self.store.sign(self.zsk.key_id, signed_data(header, rrset))]


NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    name = f"verify-test-{uuid.uuid4().hex}"
    store = MemoryKeyStore(name)
    ksk = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    yield Keys(store, ksk, zsk, load_policy())
    forget_named_store(name)


@pytest.fixture(scope="session")
def good_zone(keys: Keys) -> Zone:
    """The signed zone; tests get copies through ``Case``."""
    return keys.sign()


@dataclass
class Case:
    """One candidate to verify: files on disk and how to verify them."""

    dir: Path
    keys: Keys
    zone: Zone
    signed: Path
    unsigned: Path
    anchor: Path
    previous: Path | None = None
    # The time its verification will use: a fault relative to now (an inception within
    # the clock skew) is made from it. A test whose verifier reads the real clock (the
    # CLI) sets it to that clock.
    verify_at: datetime = field(default_factory=lambda: NOW + timedelta(seconds=5))

    def rrset(self, owner: str, rtype: int) -> RRset:
        r = self.zone.get(wire(owner), rtype)
        assert r is not None, (owner, rtype)
        return r

    def write(self) -> Case:
        write_zone_atomic(self.zone, self.signed)
        return self

    def verify(
        self,
        *,
        now: datetime | None = None,
        parts: bool = False,
        write: bool = True,
        **options: object,
    ) -> Report:
        """Verify the case (written from ``zone`` first unless ``write`` is False): read
        whole, or with ``parts`` cut into parts of about 300 bytes."""
        if write:
            self.write()
        opts = VerifyOptions(policy=self.keys.policy, external=(), second_sample=None)
        if parts:
            opts = replace(opts, split_bytes=0, part_bytes=300)
        opts = replace(opts, **options)  # type: ignore[arg-type]
        request = VerifyRequest(
            signed=self.signed,
            origin=ORIGIN,
            trust_anchor=self.anchor,
            unsigned=self.unsigned,
            previous=self.previous,
        )
        return verify_zone(
            request,
            opts,
            now or self.verify_at,
            keystore=self.keys.store,
            opener=open_keystore,
        )


@pytest.fixture
def case(tmp_path: Path, keys: Keys, good_zone: Zone) -> Case:
    """A fresh copy of the good signed zone, its unsigned input and its DS anchor."""
    unsigned = tmp_path / "example.zone"
    unsigned.write_text(UNSIGNED, "utf-8")
    anchor = tmp_path / "example.ds"
    anchor.write_text(keys.ds(), "utf-8")
    return Case(
        dir=tmp_path,
        keys=keys,
        zone=copy.deepcopy(good_zone),
        signed=tmp_path / "example.signed",
        unsigned=unsigned,
        anchor=anchor,
    )


Mutation = Callable[[Case], None]

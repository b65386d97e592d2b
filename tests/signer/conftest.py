"""Keys and a small zone for signer tests (in-memory keys; SoftHSM2 in tests/integration)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tldsec.hsm.memory import MemoryKeyStore
from tldsec.policy import Algorithm, load_policy
from tldsec.signconf import SigningConfig, ZoneKey

NOW = datetime.now(UTC).replace(microsecond=0)

ZONE = """\
$ORIGIN example.
$TTL 86400
@ SOA a.nic hostmaster.nic 2024010100 1800 900 1209600 3600
@ NS a.nic
@ NS b.nic
a.nic A 192.0.2.1
a.nic AAAA 2001:db8::1
b.nic A 192.0.2.2
secure NS ns1.secure
secure DS 12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE3AC2D9F6D8E8A0C04E2A85E1
ns1.secure A 192.0.2.53
ns1.deep.secure A 192.0.2.54
insecure NS ns.hoster.net.
xn--bcher-kva NS ns.hoster.net.
a.b.c.ent NS ns.hoster.net.
glue-at-cut NS glue-at-cut
glue-at-cut A 192.0.2.80
orphan.gone A 192.0.2.99
"""


class Keys:
    """A KSK and a ZSK in one in-memory store, and the SigningConfig that uses them."""

    def __init__(self) -> None:
        self.store = MemoryKeyStore(f"signer-test-{uuid.uuid4().hex}")
        self.ksk = self.store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
        self.zsk = self.store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
        self.config = self.make_config(self.zsk)

    def zone_key(self, info: object, *, ksk: bool, signs: bool = True) -> ZoneKey:
        from tldsec.hsm.base import KeyInfo

        assert isinstance(info, KeyInfo)
        return ZoneKey(
            info.key_id,
            257 if ksk else 256,
            info.algorithm,
            info.public_key,
            publish=True,
            sign_dnskey=ksk and signs,
            sign_zone=(not ksk) and signs,
        )

    def make_config(self, *zsks: object) -> SigningConfig:
        keys = (self.zone_key(self.ksk, ksk=True), *(self.zone_key(z, ksk=False) for z in zsks))
        return SigningConfig.from_policy(load_policy(), keys)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()

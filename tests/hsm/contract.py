"""What every KeyStore must do, as checks the backend tests run against their store.

tests/hsm/ runs them on the memory and file stores, tests/integration/ on SoftHSM2 tokens:
one definition of the behaviour, three backends held to it.
"""

from __future__ import annotations

from typing import Protocol

import dns.dnssec
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from dns.dnssecalgs.ecdsa import PublicECDSAP256SHA256

from tldsec.dnscore.dnskey import dnskey_rdata, key_tag
from tldsec.errors import KeyNotFound, KeyStoreError
from tldsec.hsm.base import KeyInfo, KeyStore
from tldsec.hsm.dnspython_key import HsmPrivateKey, hsm_private_key
from tldsec.hsm.keyalg import verifies
from tldsec.hsm.rsakey import parse_dnskey_public_key, public_key_from_field
from tldsec.policy import Algorithm

from .vectors import RFC5702_KEY_TAG, rfc5702_key, rfc5702_records, rrsig_signed_data

MESSAGE = b"\x00\x2e" + b"RRSIG signed data stand-in" * 4


class ImportingStore(KeyStore, Protocol):
    """A store that can take a known key (test vectors)."""

    def import_rsa_private_key(
        self, numbers: rsa.RSAPrivateNumbers, *, label: str, algorithm: Algorithm
    ) -> KeyInfo: ...


def verify(info: KeyInfo, signature: bytes, data: bytes) -> None:
    """Verify with ``cryptography`` and the exported DNSKEY public key (raises if bad)."""
    digest = hashes.SHA512() if info.algorithm == Algorithm.RSASHA512 else hashes.SHA256()
    public_key_from_field(info.public_key).verify(signature, data, padding.PKCS1v15(), digest)


def check_generate_find_list_sign(store: KeyStore, bits: int = 1024) -> KeyInfo:
    """A generated key is found by id and in the list, signs, and verifies outside."""
    ksk = store.generate_key(label="ksk-1", algorithm=Algorithm.RSASHA256, bits=bits)
    zsk = store.generate_key(label="zsk-1", algorithm=Algorithm.RSASHA256, bits=bits)
    assert len(ksk.key_id) == 32 and int(ksk.key_id, 16) >= 0
    assert ksk.key_id != zsk.key_id
    assert (ksk.label, ksk.algorithm, ksk.bits) == ("ksk-1", Algorithm.RSASHA256, bits)
    exponent, modulus = parse_dnskey_public_key(ksk.public_key)
    assert exponent == 65537 and modulus.bit_length() == bits

    assert store.get_key(ksk.key_id) == ksk
    assert [k.key_id for k in store.list_keys() if k.key_id in (ksk.key_id, zsk.key_id)] == [
        ksk.key_id,
        zsk.key_id,
    ]

    signature = store.sign(ksk.key_id, MESSAGE)
    assert len(signature) == bits // 8
    verify(ksk, signature, MESSAGE)
    with pytest.raises(InvalidSignature):
        verify(zsk, signature, MESSAGE)  # the other key's public half does not verify it
    return ksk


def check_sign_many(store: KeyStore, info: KeyInfo) -> None:
    """A batch signs each item in order, exactly as single calls do (PKCS#1 v1.5)."""
    items = [MESSAGE + bytes([i]) * i for i in range(20)]
    batch = store.sign_many(info.key_id, items)
    assert batch == [store.sign(info.key_id, item) for item in items]
    for item, signature in zip(items, batch, strict=True):
        verify(info, signature, item)
    assert store.sign_many(info.key_id, []) == []


def check_rsasha512(store: KeyStore) -> None:
    """Algorithm 10 keys sign with SHA-512 (RFC 5702 3)."""
    info = store.generate_key(label="sha512", algorithm=Algorithm.RSASHA512, bits=1024)
    assert store.get_key(info.key_id).algorithm == Algorithm.RSASHA512
    verify(info, store.sign(info.key_id, MESSAGE), MESSAGE)


def check_refuses_bad_requests(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match=r"100-bit keys are outside 512\.\.4096"):
        store.generate_key(label="tiny", algorithm=Algorithm.RSASHA256, bits=100)
    with pytest.raises(KeyStoreError, match="algorithm 14 is not one tldsec signs with"):
        store.generate_key(label="ec", algorithm=14, bits=384)  # type: ignore[arg-type]
    with pytest.raises(KeyStoreError, match="P-256: 256 bits, not 2048"):
        store.generate_key(label="ec", algorithm=Algorithm.ECDSAP256SHA256, bits=2048)


def check_unknown_key(store: KeyStore) -> None:
    """A missing key is ``KeyNotFound`` naming the id, for every operation."""
    missing = "00" * 16
    for call in (
        lambda: store.get_key(missing),
        lambda: store.sign(missing, MESSAGE),
        lambda: store.sign_many(missing, [MESSAGE]),
    ):
        with pytest.raises(KeyNotFound) as caught:
            call()
        assert missing in str(caught.value)
        assert "Traceback" not in str(caught.value)
    with pytest.raises(KeyNotFound, match="not-hex"):
        store.sign("not-hex", MESSAGE)


def check_rfc5702_known_answer(store: ImportingStore) -> KeyInfo:
    """RFC 5702 6.1: the published 512-bit key signs the A RRset to the published RRSIG."""
    vector = rfc5702_key()
    assert vector.algorithm == Algorithm.RSASHA256
    info = store.import_rsa_private_key(
        vector.numbers, label="rfc5702", algorithm=Algorithm.RSASHA256
    )
    case = rfc5702_records()
    # The public half is the published DNSKEY's, and its key tag is 9033.
    assert info.public_key == case.dnskey.key
    assert info.bits == 512
    assert key_tag(dnskey_rdata(256, 8, info.public_key)) == RFC5702_KEY_TAG
    assert case.rrsig.key_tag == RFC5702_KEY_TAG

    data = rrsig_signed_data(case.rrset, case.rrsig)
    assert store.sign(info.key_id, data) == case.rrsig.signature
    assert store.sign_many(info.key_id, [data, data]) == [case.rrsig.signature] * 2
    return info


def check_dnspython_signs_the_same_bytes(store: ImportingStore) -> None:
    """dns.dnssec.sign through HsmPrivateKey == KeyStore.sign over our signed data.

    Two constructions of the RRSIG signed data (dnspython's and RFC 4034 3.1.8.1 by hand)
    must meet in the same deterministic signature: the verifier's second check (DPS 6.6).
    """
    vector = rfc5702_key()
    info = store.import_rsa_private_key(
        vector.numbers, label="rfc5702-dnspython", algorithm=Algorithm.RSASHA256
    )
    case = rfc5702_records()
    rrsig = dns.dnssec.sign(
        case.rrset,
        HsmPrivateKey(store, info.key_id),
        case.signer,
        case.dnskey,
        inception=case.rrsig.inception,
        expiration=case.rrsig.expiration,
        verify=True,
    )
    ours = store.sign(info.key_id, rrsig_signed_data(case.rrset, rrsig))
    assert rrsig.signature == ours == case.rrsig.signature
    assert rrsig == case.rrsig
    dns.dnssec.validate_rrsig(
        case.rrset, rrsig, {case.signer: [case.dnskey]}, now=case.rrsig.inception + 1
    )

    # A generated key of either algorithm, through the factory.
    for algorithm in (Algorithm.RSASHA256, Algorithm.RSASHA512):
        fresh = store.generate_key(label=f"dnspython-{algorithm}", algorithm=algorithm, bits=1024)
        key = hsm_private_key(store, fresh.key_id)
        dnskey = key.public_key().to_dnskey(flags=256)
        assert dnskey.key == fresh.public_key
        sig = dns.dnssec.sign(
            case.rrset, key, case.signer, dnskey, inception=946684800, expiration=1893456000
        )
        assert sig.algorithm == algorithm
        assert sig.signature == store.sign(fresh.key_id, rrsig_signed_data(case.rrset, sig))


def check_ecdsa_p256(store: KeyStore) -> KeyInfo:
    """Algorithm 13 (RFC 6605): a P-256 key, x | y in the DNSKEY, r | s signatures that
    cryptography and dnspython verify under the DNSKEY alone, and not under another key."""
    ksk = store.generate_key(label="ec-ksk", algorithm=Algorithm.ECDSAP256SHA256, bits=256)
    zsk = store.generate_key(label="ec-zsk", algorithm=Algorithm.ECDSAP256SHA256, bits=256)
    assert (ksk.algorithm, ksk.bits, len(ksk.public_key)) == (Algorithm.ECDSAP256SHA256, 256, 64)
    assert store.get_key(ksk.key_id) == ksk
    assert {ksk.key_id, zsk.key_id} <= {k.key_id for k in store.list_keys()}
    assert ksk.public_key != zsk.public_key

    signature = store.sign(ksk.key_id, MESSAGE)
    assert len(signature) == 64
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + ksk.public_key)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public.verify(encode_dss_signature(r, s), MESSAGE, ec.ECDSA(hashes.SHA256()))
    dnskey = dns.rdata.from_wire(
        dns.rdataclass.IN, dns.rdatatype.DNSKEY, dnskey_rdata(257, 13, ksk.public_key), 0, 68
    )
    PublicECDSAP256SHA256.from_dnskey(dnskey).verify(signature, MESSAGE)  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature):
        public.verify(encode_dss_signature(r, s), MESSAGE + b"x", ec.ECDSA(hashes.SHA256()))
    other = zsk.public_key
    assert not verifies(other, Algorithm.ECDSAP256SHA256, MESSAGE, signature)
    assert verifies(ksk.public_key, Algorithm.ECDSAP256SHA256, MESSAGE, signature)

    items = [MESSAGE + bytes([i]) * i for i in range(10)]
    batch = store.sign_many(zsk.key_id, items)
    assert len(batch) == len(items)
    for item, sig in zip(items, batch, strict=True):
        assert verifies(zsk.public_key, Algorithm.ECDSAP256SHA256, item, sig)

    # dnspython signs through the store with the algorithm-13 class.
    key = hsm_private_key(store, zsk.key_id)
    assert key.public_key().to_dnskey(flags=256).key == zsk.public_key
    return ksk

"""RFC 5702 6.1 known answer through the signer's own RRSIG path, byte for byte.

The signer builds the RRSIG header and signed data itself (signer/rrsig.py); with the
RFC's key, inception and expiration, RSA PKCS#1 v1.5 must reproduce the published
signature exactly, from an in-memory key and from a SoftHSM2 token.
"""

from __future__ import annotations

import base64

from tests.hsm.vectors import RFC5702_RECORDS, rfc5702_key
from tldsec.dnscore import names, rdata
from tldsec.dnscore.dnskey import key_tag
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.hsm.base import KeyStore
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.signconf import ZoneKey
from tldsec.signer.rrsig import RrsigFields, rrsig_header, signed_data


def sign_rfc5702_rrset(store: MemoryKeyStore | Pkcs11KeyStore) -> tuple[bytes, bytes]:
    """(our RRSIG RDATA, the RFC's RRSIG RDATA) for www.example.net. A."""
    zone = read_zone_text(RFC5702_RECORDS.read_text(), "example.net.")
    a = zone.get(names.to_wire("www.example.net."), RRType.A)
    dnskey = zone.get(names.to_wire("example.net."), RRType.DNSKEY)
    assert a is not None and dnskey is not None
    published = a.sigs[0]
    f = RrsigFields.parse(published)
    bind = rfc5702_key()
    info = store.import_rsa_private_key(bind.numbers, label="rfc5702", algorithm=bind.algorithm)
    key = ZoneKey(info.key_id, 256, info.algorithm, info.public_key, True, False, True)
    assert key.dnskey_rdata == dnskey.rdatas[0]
    assert key_tag(key.dnskey_rdata) == 9033
    header = rrsig_header(
        a, int(key.algorithm), 9033, names.to_wire("example.net."), f.inception, f.expiration
    )
    ks: KeyStore = store
    return header + ks.sign(info.key_id, signed_data(header, a)), published


def test_rfc5702_signature_from_memory_key() -> None:
    ours, published = sign_rfc5702_rrset(MemoryKeyStore())
    assert ours == published
    assert rdata.rrsig_to_text(ours).endswith(base64.b64encode(published[-64:]).decode())


def test_rfc5702_signature_from_softhsm2_token(softhsm_store: Pkcs11KeyStore) -> None:
    ours, published = sign_rfc5702_rrset(softhsm_store)
    assert ours == published

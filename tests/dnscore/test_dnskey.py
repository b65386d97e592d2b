"""Key tags and DS digests against RFC 4034 5.4 and RFC 4509 2.3 (shared/vectors)."""

from __future__ import annotations

import base64

import dns.name

from tldsec.dnscore.dnskey import ds_rdata, key_tag

# RFC 4034 5.4: dskey.example.com. DNSKEY 256 3 5 <key>; key tag 60485.
RFC4034_KEY = base64.b64decode(
    "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMm"
    "mAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw=="
)
RFC4034_DNSKEY = bytes.fromhex("0100") + bytes((3, 5)) + RFC4034_KEY
OWNER = dns.name.from_text("dskey.example.com.").to_wire()


def test_key_tag_matches_rfc4034_section_5_4() -> None:
    assert key_tag(RFC4034_DNSKEY) == 60485


def test_sha1_ds_matches_rfc4034_section_5_4() -> None:
    ds = ds_rdata(OWNER, RFC4034_DNSKEY, 1)
    assert ds[:4] == (60485).to_bytes(2, "big") + bytes((5, 1))
    assert ds[4:].hex().upper() == "2BB183AF5F22588179A53B0A98631FAD1A292118"


def test_sha256_ds_matches_rfc4509_section_2_3() -> None:
    ds = ds_rdata(OWNER, RFC4034_DNSKEY, 2)
    assert ds[4:].hex().upper() == (
        "D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A"
    )

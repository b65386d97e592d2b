"""A DS from one pasted line: a DS or CDS record, or a DNSKEY or CDNSKEY record whose DS
is computed (dnspython, RFC 4034 5.1.4) for the domain with the chosen digest type.

Accepted forms, with or without owner, TTL and class: ``example.tld. 3600 IN DS 12345 13
2 ABCD...``, ``DS 12345 13 2 ABCD...``, ``12345 13 2 ABCD...`` (DS RDATA alone),
``CDS ...``, ``DNSKEY 257 3 13 base64...``, ``CDNSKEY ...``. A DS's four fields are taken
as written and judged by the registry's DS rules (``registry/ds_rules.py``), so the
console says exactly what EPP would; a key is parsed by dnspython first.
"""

from __future__ import annotations

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.dnssectypes import DSDigest
from dns.exception import DeniedByPolicy, UnsupportedAlgorithm
from dns.rdtypes.dnskeybase import DNSKEYBase

from tldsec.registry.ds_rules import DsData

KEY_TYPES = {"DNSKEY": dns.rdatatype.DNSKEY, "CDNSKEY": dns.rdatatype.CDNSKEY}
DS_TYPES = ("DS", "CDS")
CLASSES = ("IN",)
ZONE_FLAG = 0x0100  # RFC 4034 2.1.1
SEP_FLAG = 0x0001  # RFC 4034 2.1.1, RFC 3757
COMPUTABLE_DIGESTS = (2, 4, 1)  # SHA-256, SHA-384, SHA-1 (dnspython computes these)


class DsInputError(ValueError):
    """The line cannot give a DS; the message says why, for the person who pasted it."""


def parse_line(line: str, domain: str, digest_type: int = 2) -> tuple[DsData, str | None]:
    """The DS the line gives for ``domain``, and a note to show with it (or None)."""
    tokens = line.replace("\t", " ").split()
    if not tokens:
        raise DsInputError("paste a DS, CDS, DNSKEY or CDNSKEY record")
    owner = dns.name.from_text(domain)
    rtype, rdata = _split(tokens, owner)
    if rtype in DS_TYPES:
        return _ds_fields(rdata, rtype), None
    return _from_key(rtype, " ".join(rdata), owner, digest_type)


def _split(tokens: list[str], owner: dns.name.Name) -> tuple[str, list[str]]:
    """The record type and its RDATA tokens; owner, TTL and class checked and dropped."""
    upper = [t.upper() for t in tokens]
    for i, token in enumerate(upper):
        if token in DS_TYPES or token in KEY_TYPES:
            before = tokens[:i]
            if before and not before[0].isdigit() and before[0].upper() not in CLASSES:
                try:
                    named = dns.name.from_text(before[0])
                except dns.exception.DNSException as exc:
                    raise DsInputError(f"{before[0]!r} is not a domain name ({exc})") from exc
                if named != owner:
                    raise DsInputError(
                        f"the record is for {named.to_text()}, not for {owner.to_text()}"
                    )
                before = before[1:]
            if any(not (t.isdigit() or t.upper() in CLASSES) for t in before):
                raise DsInputError(f"unexpected {' '.join(before)!r} before {token}")
            return token, tokens[i + 1 :]
    if len(tokens) >= 4 and all(t.isdigit() for t in tokens[:3]):
        return "DS", tokens  # the RDATA of a DS alone
    raise DsInputError(
        "no record type found: paste a DS, CDS, DNSKEY or CDNSKEY record "
        "(e.g. 'DS 12345 13 2 4B2A...')"
    )


def _ds_fields(rdata: list[str], rtype: str) -> DsData:
    if len(rdata) < 4:
        raise DsInputError(
            f"a {rtype} record has four fields: key tag, algorithm, digest type, digest"
        )
    try:
        key_tag, algorithm, digest_type = (int(t) for t in rdata[:3])
    except ValueError:
        raise DsInputError(
            f"the key tag, algorithm and digest type of a {rtype} record are numbers "
            f"(got {' '.join(rdata[:3])!r})"
        ) from None
    if rtype == "CDS" and (key_tag, algorithm, digest_type) == (0, 0, 0):
        raise DsInputError(
            "this CDS asks for the DS set to be deleted (RFC 8078 4): use 'Remove all DS' instead"
        )
    return DsData.of(key_tag, algorithm, digest_type, "".join(rdata[3:]))


def _from_key(
    rtype: str, text: str, owner: dns.name.Name, digest_type: int
) -> tuple[DsData, str | None]:
    try:
        key = dns.rdata.from_text(dns.rdataclass.IN, KEY_TYPES[rtype], text)
    except (dns.exception.DNSException, ValueError) as exc:
        raise DsInputError(f"the {rtype} record does not parse: {exc}") from exc
    assert isinstance(key, DNSKEYBase)
    if (key.flags, key.protocol, key.algorithm) == (0, 3, 0):
        raise DsInputError(
            f"this {rtype} asks for the DS set to be deleted (RFC 8078 4): use 'Remove all DS' "
            "instead"
        )
    if not key.flags & ZONE_FLAG:
        raise DsInputError(
            f"the key has flags {key.flags}, without the Zone Key flag (256): it is not a "
            "DNSSEC zone key (RFC 4034 2.1.1)"
        )
    if digest_type not in COMPUTABLE_DIGESTS:
        raise DsInputError(f"digest type {digest_type} cannot be computed here; choose 2 or 4")
    try:
        ds = dns.dnssec.make_ds(owner, key, DSDigest(digest_type))  # RFC 4034 5.1.4
    except (DeniedByPolicy, UnsupportedAlgorithm, ValueError) as exc:
        raise DsInputError(f"cannot compute a DS of digest type {digest_type}: {exc}") from exc
    note = None
    if not key.flags & SEP_FLAG:
        note = (
            f"key {ds.key_tag} has no SEP flag (flags {key.flags}): it looks like a ZSK; "
            "a DS for it is accepted, but DS usually point at a KSK"
        )
    return DsData.of(ds.key_tag, int(ds.algorithm), int(ds.digest_type), ds.digest.hex()), note

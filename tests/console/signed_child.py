"""A small signed child zone served by a real NSD on 127.0.0.1: what the console's
advisory check asks. ``child.example.`` is signed by dnspython (NSEC) with a KSK (flags
257, signs the DNSKEY set) and a ZSK (256); ``dns-host.test.`` gives the address of its
name server ``ns1.dns-host.test`` (outside the TLD, so the check resolves it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dns.dnssec
import dns.name
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec
from dns.dnssectypes import Algorithm, DSDigest
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from tests.distribute.nameservers import Daemon, NsdZone, start_nsd
from tldsec.registry.ds_rules import DsData

CHILD = "child.example."
HOST_ZONE = "dns-host.test."


@dataclass
class SignedChild:
    daemon: Daemon
    ksk: DNSKEY
    zsk: DNSKEY

    def ds(self, key: DNSKEY, digest: DSDigest = DSDigest.SHA256) -> DsData:
        made = dns.dnssec.make_ds(dns.name.from_text(CHILD), key, digest)
        return DsData.of(
            made.key_tag, int(made.algorithm), int(made.digest_type), made.digest.hex()
        )

    def stop(self) -> None:
        self.daemon.stop()


def serve_signed_child(directory: Path, now: datetime) -> SignedChild:
    ksk_key = ec.generate_private_key(ec.SECP256R1())
    zsk_key = ec.generate_private_key(ec.SECP256R1())
    ksk = dns.dnssec.make_dnskey(ksk_key.public_key(), Algorithm.ECDSAP256SHA256, flags=257)
    zsk = dns.dnssec.make_dnskey(zsk_key.public_key(), Algorithm.ECDSAP256SHA256, flags=256)
    zone = dns.zone.from_text(
        "\n".join(
            [
                f"{CHILD} 3600 IN SOA ns1.{HOST_ZONE} hostmaster.{CHILD} 1 1800 900 604800 300",
                f"{CHILD} 3600 IN NS ns1.{HOST_ZONE}",
                f"www.{CHILD} 3600 IN A 192.0.2.80",
            ]
        )
        + "\n",
        origin=CHILD,
        relativize=False,
    )
    dns.dnssec.sign_zone(
        zone,
        keys=[(ksk_key, ksk), (zsk_key, zsk)],
        inception=now - timedelta(days=1),
        expiration=now + timedelta(days=30),
    )
    directory.mkdir(parents=True, exist_ok=True)
    child_file = directory / "child.zone"
    child_file.write_text(zone.to_text(relativize=False))
    host_file = directory / "host.zone"
    host_file.write_text(
        f"{HOST_ZONE} 3600 IN SOA ns1.{HOST_ZONE} hostmaster.{HOST_ZONE} 1 1800 900 604800 300\n"
        f"{HOST_ZONE} 3600 IN NS ns1.{HOST_ZONE}\n"
        f"ns1.{HOST_ZONE} 3600 IN A 127.0.0.1\n"
    )
    daemon = start_nsd(
        directory / "nsd",
        [NsdZone(CHILD, zonefile=child_file), NsdZone(HOST_ZONE, zonefile=host_file)],
    )
    return SignedChild(daemon, ksk, zsk)

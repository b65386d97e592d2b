"""A signed test root served by a real NSD: the parent whose DS answers the key manager
must validate before it opens a rollover gate.

The root is signed with dnspython (``dns.dnssec.sign_zone``, NSEC) by an ECDSA P-256 key;
``anchor_text`` is its DNSKEY line, the trust anchor the check is given. ``publish``
re-signs the root with another DS set (or none) for the child and restarts NSD.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dns.dnssec
import dns.rdtypes.ANY.DNSKEY
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec

from tests.distribute.nameservers import Daemon, NsdZone, start_nsd
from tldsec.keys.ds import DsRecord
from tldsec.keys.gates import ParentServer


def ds_lines(records: list[DsRecord]) -> list[str]:
    return [f"{r.key_tag} {r.algorithm} {r.digest_type} {r.digest.hex()}" for r in records]


class SignedRoot:
    """A root zone delegating ``child`` (with a DS set the test chooses), served by NSD."""

    def __init__(
        self,
        directory: Path,
        child: str,
        now: datetime,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        self.directory = directory
        self.child = child
        self.now = now
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.dnskey: dns.rdtypes.ANY.DNSKEY.DNSKEY = dns.dnssec.make_dnskey(
            self.key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257
        )
        self.daemon: Daemon | None = None
        self._generation = 0

    @property
    def anchor_text(self) -> str:
        return f". 172800 IN DNSKEY {self.dnskey.to_text()}"

    @property
    def server(self) -> ParentServer:
        assert self.daemon is not None
        return ParentServer("127.0.0.1", self.daemon.port)

    def zone_text(self, ds: list[str], ds_ttl: int, extra: tuple[str, ...] = ()) -> str:
        lines = [
            ". 86400 IN SOA ns.root-test. hostmaster.root-test. 1 1800 900 604800 3600",
            ". 86400 IN NS ns.root-test.",
            "ns.root-test. 86400 IN A 127.0.0.1",
            f"{self.child} 86400 IN NS ns.{self.child}",
            f"ns.{self.child} 86400 IN A 127.0.0.1",
            *(f"{self.child} {ds_ttl} IN DS {d}" for d in ds),
            *extra,
        ]
        return "\n".join(lines) + "\n"

    def signed_text(
        self,
        ds: list[str],
        ds_ttl: int = 86400,
        key: ec.EllipticCurvePrivateKey | None = None,
        extra: tuple[str, ...] = (),
    ) -> str:
        """The root signed (by ``key``, default the anchor's key) with ``ds`` for the child
        and the ``extra`` records."""
        zone = dns.zone.from_text(self.zone_text(ds, ds_ttl, extra), origin=".", relativize=False)
        signer = key or self.key
        dnskey = dns.dnssec.make_dnskey(
            signer.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257
        )
        dns.dnssec.sign_zone(
            zone,
            keys=[(signer, dnskey)],
            inception=self.now - timedelta(days=1),
            expiration=self.now + timedelta(days=60),
        )
        return zone.to_text(relativize=False)

    def serve_text(self, text: str) -> None:
        """Serve ``text`` as the root (NSD restarted on a fresh port)."""
        self.stop()
        self._generation += 1
        where = self.directory / f"nsd-{self._generation}"
        where.mkdir(parents=True)
        path = where / "root.zone"
        path.write_text(text)
        self.daemon = start_nsd(where, [NsdZone(".", zonefile=path)])

    def publish(self, ds: list[str], ds_ttl: int = 86400) -> None:
        self.serve_text(self.signed_text(ds, ds_ttl))

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

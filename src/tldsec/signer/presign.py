"""Signing the delegations' DS RRsets while the zone file is still being read.

Reading a million-delegation zone takes one core about ten seconds, and nothing can be
signed from it until it is read. The DS RRsets at delegations do not depend on anything
else in the zone, so a child forked before the read reads the same file for them,
signs them with the run's own RRSIG makers, and hands back what it signed.

The child looks only at DS records written on one line in the plain form
(``owner. TTL IN DS ...``, absolute owner, no comment, quote, escape or parenthesis),
whose meaning does not depend on the lines around them. The parent attaches a
child's RRSIGs only to an RRset byte-identical to the one the child signed (owner,
TTL, the set of RDATAs): anything the child missed or saw differently is signed later
like any other RRset, so a presigned run signs exactly what a plain run signs.
"""

from __future__ import annotations

import logging
import marshal
import multiprocessing
import re
import tempfile
from pathlib import Path
from typing import IO, Any

from tldsec.dnscore.bulk import bulk_allocation
from tldsec.dnscore.zone import RRset
from tldsec.hsm.base import KeyStoreSpec
from tldsec.signer.workers import RrsigMaker, SignJobs, sign_range

log = logging.getLogger(__name__)

PRESIGN_MIN_BYTES = 4 << 20  # below this, forking costs more than it saves
BATCH = 1024  # RRsets signed between two looks at the stop signal

# A whole DS line in the plain form: absolute owner, TTL, IN, DS, RDATA without the
# characters that would make it depend on other lines (RFC 1035 5.1).
_PLAIN_DS_LINE = re.compile(rb"^[^\s;$()\"\\]+\. +\d+ +IN +DS +[^\n;()\"\\]+$", re.MULTILINE)

# What the child hands back per RRset: owner, TTL, RDATAs, RRSIGs (one per maker).
Presigned = dict[bytes, tuple[int, list[bytes], tuple[bytes, ...]]]


class DsPresigning:
    """A child signing the DS RRsets of ``zone_file`` while the parent reads it."""

    def __init__(
        self, zone_file: Path, origin: str, makers: tuple[RrsigMaker, ...], spec: KeyStoreSpec
    ) -> None:
        self.makers = makers
        # Closed by close(), after the child has written it and the parent read it.
        self._out: IO[bytes] = tempfile.TemporaryFile(prefix="tldsec-presign-")  # noqa: SIM115
        ctx = multiprocessing.get_context("fork")
        self._stop: Any = ctx.Event()
        self._process: Any = ctx.Process(
            target=_presign,
            args=(zone_file, origin, makers, spec, self._out, self._stop),
            daemon=True,
        )
        self._process.start()

    def collect(self) -> Presigned:
        """What the child has signed so far: it stops at its next batch and hands over
        (nothing if it failed; the main run signs whatever is missing). Stopping it, not
        waiting for it, matters when signing is slow (an HSM): the main run's workers
        then sign the rest on every core."""
        self._stop.set()
        self._process.join()
        if self._process.exitcode != 0:
            return {}
        self._out.seek(0)
        rows = marshal.loads(self._out.read())
        return {owner: (ttl, rdatas, sigs) for owner, ttl, rdatas, sigs in rows}

    def wait(self) -> None:
        """Let the child sign everything it found (tests, and callers with nothing else
        to do), then ``collect``."""
        self._process.join()

    def running(self) -> bool:
        return bool(self._process.is_alive())

    def close(self) -> None:
        """Stop the child if it still runs (after a failure); twice is harmless."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._out.close()


def start_presigning(
    zone_file: Path,
    origin: str,
    makers: tuple[RrsigMaker, ...],
    spec: KeyStoreSpec,
    workers: int,
    min_bytes: int = PRESIGN_MIN_BYTES,
) -> DsPresigning | None:
    """Start a presigning child if the run has a core to spare and the file is large."""
    try:
        big = zone_file.stat().st_size >= min_bytes
    except OSError:
        return None  # the read reports it, with the file name
    if workers < 2 or not big or not makers:
        return None
    return DsPresigning(zone_file, origin, makers, spec)


def attach_presigned(rrsets: list[RRset], presigned: Presigned) -> int:
    """Give each RRset the child signed, byte-identical, the child's RRSIGs; the number
    of RRsets that got them."""
    attached = 0
    for rrset in rrsets:
        found = presigned.get(rrset.owner)
        if found is not None and found[0] == rrset.ttl and found[1] == rrset.rdatas:
            rrset.sigs = found[2]
            attached += 1
    return attached


_Row = tuple[bytes, int, list[bytes], tuple[bytes, ...]]


def _presign(
    zone_file: Path,
    origin: str,
    makers: tuple[RrsigMaker, ...],
    spec: KeyStoreSpec,
    out: IO[bytes],
    stop: Any,
) -> None:
    """The child: sign the file's plain DS RRsets until done or stopped, hand them over."""
    try:
        with bulk_allocation():
            rows = _sign_until_stopped(_plain_ds_rrsets(zone_file, origin), makers, spec, stop)
            out.write(marshal.dumps(rows))
            out.flush()
    except Exception as exc:
        log.debug("presigning %s failed, the main run signs its DS: %s", zone_file, exc)
        raise SystemExit(1) from None


def _plain_ds_rrsets(zone_file: Path, origin: str) -> list[RRset]:
    """The DS RRsets one label under the origin, from the file's plain DS lines."""
    from tldsec.dnscore.types import RRType
    from tldsec.dnscore.zonefile import read_zone_text

    data = zone_file.read_bytes()
    lines = b"\n".join(_PLAIN_DS_LINE.findall(data))
    del data
    zone = read_zone_text(lines.decode("utf-8"), origin, str(zone_file))
    size = len(zone.origin) + 1
    return [
        rrset
        for owner, node in zone.nodes.items()
        if owner[0] + size == len(owner)  # one label under the origin: a delegation
        for rrset in node
        if rrset.rtype == RRType.DS
    ]


def _sign_until_stopped(
    rrsets: list[RRset], makers: tuple[RrsigMaker, ...], spec: KeyStoreSpec, stop: Any
) -> list[_Row]:
    """(owner, TTL, RDATAs, one RRSIG per maker) per RRset, a batch at a time."""
    from tldsec.hsm.open import open_keystore

    rows: list[_Row] = []
    store = open_keystore(spec)
    try:
        for start in range(0, len(rrsets), BATCH):
            if stop.is_set():
                break
            batch = rrsets[start : start + BATCH]
            jobs = SignJobs.empty(makers)
            for i in range(len(makers)):
                jobs.add_all(batch, i)
            rrsigs = sign_range(store, jobs, 0, len(jobs))
            count = len(batch)
            rows.extend(
                (rrset.owner, rrset.ttl, rrset.rdatas, tuple(rrsigs[k::count]))
                for k, rrset in enumerate(batch)
            )
    finally:
        store.close()
    return rows

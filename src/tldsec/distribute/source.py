"""What the primary reads from the distribution store: each new serial as a
``ZoneVersion`` (the differences applied to the serial served, else its zone file) and
the differences an IXFR needs (RFC 1995 4), each parsed once and kept while the store
keeps it. Reads only the store: the primary never reaches back into the signer (DPS 5.6).

No serial is loaded unless its zone file equals the digest the verification gate
recorded when it published it (``filedigest``): a file damaged on disk, or edited in
place, raises ``DigestMismatch`` and is never served. A difference is used (to load a
serial, or to answer IXFR) only if it equals the digest the store recorded when it wrote
it; otherwise the zone file is read, or the whole zone sent.
"""

from __future__ import annotations

import logging
import threading

from tldsec.distribute.ixfr import WireDiff
from tldsec.distribute.records import ZoneVersion
from tldsec.distribute.store import ZoneStore
from tldsec.errors import DigestMismatch, ZoneSyntaxError
from tldsec.filedigest import check_file

log = logging.getLogger(__name__)


class ZoneSource:
    """The store, as versions and differences ready to send."""

    def __init__(self, store: ZoneStore) -> None:
        self.store = store
        self._diffs: dict[tuple[int, int], WireDiff] = {}
        self._lock = threading.Lock()

    def load(self, served: ZoneVersion | None, target: int) -> ZoneVersion:
        """``target`` by applying the differences to ``served``, else from its zone file;
        ``DigestMismatch`` if its zone file is not the bytes the gate verified."""
        check_file(self.store.zone_path(target))
        if served is not None:
            chain = self.store.chain(served.serial, target)
            if chain is not None:
                try:
                    version = served
                    for diff in self.diffs(chain):
                        if diff.old_soa != version.soa:
                            raise ZoneSyntaxError(
                                str(self.store.diff_path(diff.from_serial, diff.to_serial)),
                                None,
                                "its old SOA is not the SOA of the served serial",
                            )
                        version = version.apply(
                            diff.to_serial, diff.new_soa, diff.deleted, diff.added
                        )
                    return version
                except (ZoneSyntaxError, OSError, ValueError) as exc:
                    log.warning("store: differences unusable (%s); reading the zone file", exc)
        return ZoneVersion.from_file(self.store.zone_path(target), self.store.origin)

    def diffs(self, chain: list[tuple[int, int]]) -> list[WireDiff]:
        out = []
        for step in chain:
            with self._lock:
                diff = self._diffs.get(step)
            if diff is None:
                path = self.store.diff_path(*step)
                try:
                    check_file(path)
                except DigestMismatch as exc:
                    # Read as unusable: the caller takes the zone file (checked) or
                    # sends AXFR instead.
                    raise ZoneSyntaxError(str(path), None, str(exc)) from exc
                diff = WireDiff.from_diff(self.store.read_diff(*step))
                with self._lock:
                    self._diffs[step] = diff
                    while len(self._diffs) > self.store.keep:
                        self._diffs.pop(next(iter(self._diffs)))
            out.append(diff)
        return out

    def ixfr(self, client: int, version: ZoneVersion) -> list[WireDiff] | None:
        """The differences from ``client`` to ``version``, or None: send AXFR instead
        (history too short, or the differences larger than the zone, RFC 1995 4)."""
        chain = self.store.chain(client, version.serial)
        if chain is None:
            return None
        try:
            diffs = self.diffs(chain)
        except (ZoneSyntaxError, OSError, ValueError) as exc:
            log.warning("store: IXFR from %s: %s; sending the whole zone", client, exc)
            return None
        if sum(len(d) for d in diffs) >= len(version):
            return None
        return diffs

"""Incremental re-signing (DPS 6.5): the previous signed zone file, patched where the
unsigned input changed, instead of a pass over the whole zone.

The previous run left beside its signed file a copy of its unsigned input and a
``ZoneIndex`` (where each owner's block lies). A re-sign then:

1. diffs the two unsigned files as sets of lines (``inputdiff``) and parses only the
   lines that differ;
2. works out every owner they touch: the changed owners, the apex, their ancestors (zone
   cuts and empty non-terminals), the names below a cut that appeared or went away, and
   the owners whose RRSIGs come within the refresh threshold;
3. reads those owners' blocks from the previous file, applies the change, checks the
   result with the same rules as a full sign (``structure.analyse``), and updates the
   NSEC3 chain where names or type bitmaps changed (RFC 5155 7.1): the changed records
   and their predecessors in hash order;
4. signs what changed, reusing every signature DPS 6.5 allows;
5. writes the new file from the previous one's unchanged byte ranges (copied in the
   kernel) and the new blocks, atomically, with its ``ZoneIndex`` and a ``ZonePatch``.

Whenever that is not sound -- no index, keys or NSEC3 parameters changed, lines that
depend on their context, too much changed -- it raises ``CannotPatch`` and the caller
signs in full. A zone that breaks a content rule raises the same error as a full sign.
"""

from __future__ import annotations

import mmap
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from pathlib import Path

from tldsec.clock import to_epoch
from tldsec.dnscore import names, nsec3
from tldsec.dnscore.rdata import bitmap_types
from tldsec.dnscore.signedfile import header_text
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone, denial_ttl, soa_serial
from tldsec.dnscore.zonefile import read_zone_text, zone_lines
from tldsec.dnscore.zonepatch import Edit, ZonePatch
from tldsec.errors import ZoneSyntaxError
from tldsec.hsm.base import KeyStore
from tldsec.signconf import SigningConfig
from tldsec.signer.inputdiff import NotLineOriented, diff_inputs
from tldsec.signer.nsec3ring import Nsec3Ring, hash_of, nsec3_bitmap
from tldsec.signer.patchfile import write_patched
from tldsec.signer.reuse import SignerKey, reusable_signatures
from tldsec.signer.rrsig import ValidityWindow
from tldsec.signer.sign import key_duties, rrsig_maker
from tldsec.signer.structure import analyse
from tldsec.signer.workers import SignJobs, sign_all
from tldsec.signer.zoneindex import (
    ZoneIndex,
    earliest_expiration,
    file_stat,
    run_parameters,
)
from tldsec.zonefiles import ZoneFiles, copy_atomic

# Above this share of the zone's owners, a full pass with signature reuse is as cheap.
MAX_CHANGED_FRACTION = 0.2

_SIGNER_ADDED = (RRType.DNSKEY, RRType.NSEC3PARAM)


class CannotPatch(Exception):
    """The zone cannot be re-signed incrementally; sign it in full (the reason says why)."""


@dataclass(slots=True)
class PatchStats:
    """What an incremental re-sign did."""

    changed_lines: int = 0
    owners_changed: int = 0
    owners_refreshed: int = 0
    nsec3_changed: int = 0
    signatures_made: int = 0
    signatures_reused: int = 0
    bytes_copied: int = 0
    bytes_written: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class PatchResult:
    stats: PatchStats
    patch: ZonePatch
    serial: int
    earliest_expiry: int  # over the whole new file


@dataclass(slots=True)
class _Work:
    """The owners being re-made: their new unsigned content and their previous blocks."""

    content: dict[bytes, list[RRset]] = field(default_factory=dict)  # new, unsigned
    previous: dict[bytes, list[RRset]] = field(default_factory=dict)  # old, with RRSIGs


def resign_incrementally(
    unsigned: Path,
    previous: Path,
    output: Path,
    config: SigningConfig,
    keystore: KeyStore,
    now: datetime,
    *,
    origin: str | None = None,
    header: str | None = None,
    workers: int = 1,
) -> PatchResult:
    """Re-sign ``unsigned`` by patching ``previous`` (the last signed zone) into
    ``output``; ``CannotPatch`` when a full sign is needed instead."""
    t0 = time.perf_counter()
    index = ZoneIndex.load_for(previous)
    if index is None:
        raise CannotPatch(f"{previous} has no usable index (signed by a full run elsewhere?)")
    if (
        origin is not None
        and names.to_wire(origin if origin.endswith(".") else origin + ".") != index.origin
    ):
        raise CannotPatch(f"{previous} is a zone of another origin")
    try:
        diff = diff_inputs(ZoneFiles(previous).unsigned, unsigned)
    except NotLineOriented as exc:
        raise CannotPatch(str(exc)) from exc
    except OSError as exc:
        raise CannotPatch(f"cannot read the inputs: {exc}") from exc
    with open(previous, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as old:
        patcher = _Patcher(index, old, config, keystore, now)
        blocks = patcher.changed_blocks(diff.removed, diff.added, diff.directives, unsigned)
        patcher.stats.changed_lines = diff.changed_lines
        head = header_text(header)
        new_index, edits, chunks = patcher.layout(blocks, head.encode("utf-8"))
        write_patched(output, old, f.fileno(), edits, chunks)
    stats = patcher.stats
    stats.bytes_written = sum(e.new_end - e.new_start for e in edits)
    stats.bytes_copied = new_index.header_size + sum(new_index.sizes) - stats.bytes_written
    files = ZoneFiles(output)
    for stale in (files.index, files.patch):
        stale.unlink(missing_ok=True)
    copy_atomic(unsigned, files.unsigned)
    new_index.signed = file_stat(output)
    new_index.unsigned = file_stat(files.unsigned)
    new_index.save(files.index)
    patch = ZonePatch(previous.name, index.signed[0], new_index.signed[0], tuple(edits))
    patch.save(files.patch)
    stats.seconds = time.perf_counter() - t0
    return PatchResult(stats, patch, patcher.serial, min(new_index.expiry, default=0))


class _Patcher:
    """One incremental run over one previous signed file."""

    def __init__(
        self,
        index: ZoneIndex,
        old: mmap.mmap,
        config: SigningConfig,
        keystore: KeyStore,
        now: datetime,
    ) -> None:
        self.index = index
        self.keystore = keystore
        self.nsec3_previous: dict[bytes, list[RRset]] = {}
        self.old = old
        self.offsets = index.offsets()
        self.config = config
        self.now = now
        self.origin = index.origin
        self.origin_text = names.to_text(index.origin)
        self.stats = PatchStats()
        self.serial = 0

    # --- reading ----------------------------------------------------------------------

    def _parse(self, text: bytes, what: str) -> Zone:
        try:
            return read_zone_text(text.decode("utf-8"), self.origin_text, what)
        except (ZoneSyntaxError, UnicodeDecodeError) as exc:
            raise CannotPatch(f"{what}: {exc}") from exc

    def _previous_blocks(self, owners: Iterable[bytes]) -> dict[bytes, list[RRset]]:
        """The previous file's blocks of those owners that it has, parsed."""
        index, offsets, old = self.index, self.offsets, self.old
        parts = []
        for owner in owners:
            i = index.position(owner)
            if index.contains(owner, i):
                parts.append(old[offsets[i] : offsets[i + 1]])
        if not parts:
            return {}
        return self._parse(b"".join(parts), "the previous signed zone").nodes

    # --- what changed -----------------------------------------------------------------

    def changed_blocks(
        self, removed: list[bytes], added: list[bytes], directives: bytes, source: Path
    ) -> dict[bytes, list[RRset]]:
        """Owner -> its new block (RRsets with RRSIGs); an empty list deletes the owner."""
        origin, index = self.origin, self.index
        gone = self._parse(directives + b"\n" + b"\n".join(removed), str(source)).nodes
        new = self._parse(directives + b"\n" + b"\n".join(added), str(source)).nodes
        if sum(len(r.rdatas) for node in new.values() for r in node) != len(added):
            raise CannotPatch(f"{source}: a record is given twice in the lines that changed")
        refresh, refresh_nsec3 = self._due_for_refresh()
        touched = set(gone) | set(new) | {origin} | set(refresh)
        if len(touched) > max(1000, MAX_CHANGED_FRACTION * len(index)):
            raise CannotPatch(f"{len(touched):,} owners changed; a full pass is as cheap")
        self.stats.owners_changed = len(set(gone) | set(new))
        self.stats.owners_refreshed = len(refresh) + len(refresh_nsec3)

        work = _Work()
        self._load(work, touched | _ancestors(touched, origin))
        for owner in touched:
            work.content[owner] = _apply(
                owner, work.content.get(owner, []), gone.get(owner), new.get(owner)
            )
        # A cut that appeared or went away changes every name below it (RFC 4035 2.2).
        below: set[bytes] = set()
        for owner in touched - {origin}:
            if _is_cut(work.previous.get(owner, [])) != _is_cut(work.content[owner]):
                below.update(self._descendants(owner))
        below -= touched
        if below:
            self._load(work, below)
            touched |= below
        names_ = touched | _ancestors(touched, origin)

        unsigned = Zone(origin, {o: c for o, c in work.content.items() if c and o in names_})
        structure = analyse(unsigned)  # the full sign's content rules, on these owners
        soa = unsigned.soa()
        self.serial = soa_serial(soa.rdatas[0])
        nsec3_ttl = denial_ttl(soa)
        if index.parameters != run_parameters(self.config, nsec3_ttl):
            raise CannotPatch("the zone signing keys, NSEC3 parameters or NSEC3 TTL changed")

        apex = unsigned.nodes[origin]
        published = sorted({k.dnskey_rdata for k in self.config.published})
        dnskey = RRset(origin, RRType.DNSKEY, self.config.dnskey_ttl, published)
        apex.append(dnskey)
        param = nsec3.nsec3param_rdata(self.config.nsec3_salt, self.config.nsec3_iterations)
        apex.append(RRset(origin, RRType.NSEC3PARAM, nsec3_ttl, [param]))
        structure.nsec3_types[origin] |= {RRType.DNSKEY, RRType.NSEC3PARAM}

        types = {n: self._new_types(n, work, structure.nsec3_types, touched) for n in names_}
        chain = self._chain(types, refresh_nsec3, nsec3_ttl, unsigned)

        to_sign = [r for r in structure.to_sign if r.owner in touched]
        to_sign += [dnskey, apex[-1]]
        to_sign += [r for r in chain.values() if r is not None]
        self._sign(to_sign, work.previous, dnskey)

        blocks: dict[bytes, list[RRset]] = {}
        for owner in touched:
            blocks[owner] = unsigned.nodes.get(owner, [])
        for owner, rrset in chain.items():
            blocks[owner] = [rrset] if rrset is not None else []
        return blocks

    def _due_for_refresh(self) -> tuple[list[bytes], list[bytes]]:
        """Owners with an RRSIG that expires within the refresh threshold (DPS 6.5):
        ordinary owners, and NSEC3 owners."""
        limit = to_epoch(self.now) + int(self.config.refresh.total_seconds())
        owners, nsec3_flags, expiry = self.index.owners, self.index.nsec3, self.index.expiry
        if not expiry or min(expiry) > limit:  # the usual case, without a loop in Python
            return [], []
        due = [i for i, e in enumerate(expiry) if e <= limit]
        return (
            [owners[i] for i in due if not nsec3_flags[i]],
            [owners[i] for i in due if nsec3_flags[i]],
        )

    def _load(self, work: _Work, owners: set[bytes]) -> None:
        previous = self._previous_blocks(owners)
        work.previous.update(previous)
        for owner in owners:
            node = previous.get(owner, [])
            work.content.setdefault(owner, [_unsigned(r) for r in node if not self._added(r)])

    def _added(self, rrset: RRset) -> bool:
        return rrset.owner == self.origin and rrset.rtype in _SIGNER_ADDED

    def _descendants(self, owner: bytes) -> list[bytes]:
        index = self.index
        out = []
        i = index.position(owner) + 1
        while i < len(index) and names.is_subdomain(index.owners[i], owner):
            out.append(index.owners[i])
            i += 1
        return out

    def _new_types(
        self,
        name: bytes,
        work: _Work,
        nsec3_types: dict[bytes, frozenset[int]],
        touched: set[bytes],
    ) -> frozenset[int] | None:
        """The type bitmap of ``name``'s NSEC3 in the new zone, None if it has none."""
        if work.content.get(name):
            return nsec3_types.get(name)  # None: occluded
        if name == self.origin:
            return None
        parent = names.parent(name)
        while parent != self.origin:
            if _is_cut(work.content.get(parent, [])):
                return None  # occluded
            parent = names.parent(parent)
        # An empty non-terminal has an NSEC3 while any name exists below it (RFC 5155 7.1).
        for other in touched:
            if other != name and work.content.get(other) and names.is_subdomain(other, name):
                return frozenset()
        index = self.index
        i = index.position(name)
        if index.contains(name, i):
            i += 1
        while i < len(index) and names.is_subdomain(index.owners[i], name):
            if index.owners[i] not in touched:
                return frozenset()
            i += 1
        return None

    # --- NSEC3 ------------------------------------------------------------------------

    def _chain(
        self,
        types: dict[bytes, frozenset[int] | None],
        refresh: list[bytes],
        ttl: int,
        unsigned: Zone,
    ) -> dict[bytes, RRset | None]:
        """Hashed owner -> its new NSEC3 RRset (None: removed), for every NSEC3 record
        that changes: changed names, their predecessors in hash order, and records due
        for fresh signatures."""
        salt, iterations, origin, index = (
            self.config.nsec3_salt,
            self.config.nsec3_iterations,
            self.origin,
            self.index,
        )
        old_chain = list(compress(index.owners, index.nsec3))
        hashed = {
            n: nsec3.hashed_owner(nsec3.nsec3_hash(n, salt, iterations), origin) for n in types
        }
        previous = self._previous_blocks(set(hashed.values()) | set(refresh))
        present = set(previous)

        wanted: dict[bytes, frozenset[int]] = {}
        removed: set[bytes] = set()
        for name, new_types in types.items():
            h = hashed[name]
            old = previous.get(h)
            old_types = frozenset(bitmap_types(nsec3_bitmap(old[0].rdatas[0]))) if old else None
            if new_types == old_types:
                continue
            if new_types is None:
                removed.add(h)
            elif old_types is None and (h in present or h in wanted or h in unsigned.nodes):
                raise CannotPatch(f"NSEC3 hash collision at {names.to_text(h)}")
            else:
                wanted[h] = new_types
        added = sorted(h for h in wanted if h not in present)
        ring = Nsec3Ring(old_chain, removed, added)

        rewrite = dict(wanted)
        for h in [*added, *removed]:
            p = ring.predecessor(h)
            if p is not None and p not in rewrite:
                rewrite[p] = frozenset()  # placeholder: keeps its old bitmap
        for h in refresh:
            if h not in removed:
                rewrite.setdefault(h, frozenset())
        previous.update(self._previous_blocks(h for h in rewrite if h not in previous))
        self.nsec3_previous = previous

        out: dict[bytes, RRset | None] = {h: None for h in removed}
        for h, new_types in rewrite.items():
            old = previous.get(h)
            if h in wanted:
                bitmap_of = new_types
            elif old is not None:
                bitmap_of = frozenset(bitmap_types(nsec3_bitmap(old[0].rdatas[0])))
            else:
                continue
            successor = ring.successor(h)
            rdata = nsec3.nsec3_rdata(hash_of(successor), bitmap_of, salt, iterations)
            out[h] = RRset(h, RRType.NSEC3, ttl, [rdata])
        self.stats.nsec3_changed = len(out)
        return out

    # --- signing ----------------------------------------------------------------------

    def _sign(self, rrsets: list[RRset], previous: dict[bytes, list[RRset]], dnskey: RRset) -> None:
        config, origin = self.config, self.origin
        zsks = key_duties(config.zone_signers, config, "sign the zone (ZSK)")
        ksks = key_duties(config.dnskey_signers, config, "sign the DNSKEY RRset (KSK)")
        window = ValidityWindow.for_run(
            self.now, config.validity_min, config.validity_max, config.inception_offset
        )
        makers = tuple(rrsig_maker(d, origin, window) for d in (*ksks, *zsks))
        jobs = SignJobs.empty(makers)
        now_s = to_epoch(self.now)
        refresh = int(config.refresh.total_seconds())
        old_nodes = {**previous, **self.nsec3_previous}
        for rrset in rrsets:
            duties, offset = (ksks, 0) if rrset is dnskey else (zsks, len(ksks))
            keys: tuple[SignerKey, ...] = tuple(d.signer_key for d in duties)
            old = next((r for r in old_nodes.get(rrset.owner, ()) if r.rtype == rrset.rtype), None)
            keep: dict[SignerKey, bytes] = {}
            if old is not None and old.ttl == rrset.ttl and old.rdatas == rrset.rdatas:
                keep = reusable_signatures(rrset, old.sigs, keys, origin, now_s, refresh)
            self.stats.signatures_reused += len(keep)
            rrset.sigs = tuple(keep.values())
            for i, duty in enumerate(duties):
                if duty.signer_key not in keep:
                    jobs.add(rrset, offset + i)
        self.stats.signatures_made = sign_all(jobs, self.keystore, 1)

    # --- the new file -----------------------------------------------------------------

    def layout(
        self, blocks: dict[bytes, list[RRset]], header: bytes
    ) -> tuple[ZoneIndex, list[Edit], list[list[bytes]]]:
        """The new index, the edits, and each edit's new bytes."""
        index, offsets = self.index, self.offsets
        order = sorted(blocks, key=names.canonical_key)
        sizes: list[int] = []
        written = Zone(self.origin, {o: blocks[o] for o in order if blocks[o]})
        text = "".join(zone_lines(written, [o for o in order if blocks[o]], sizes)).encode()
        rendered: dict[bytes, bytes] = {}
        pos = 0
        for owner, size in zip((o for o in order if blocks[o]), sizes, strict=True):
            rendered[owner] = text[pos : pos + size]
            pos += size

        owners: list[bytes] = []
        new_sizes: array[int] = array("Q")
        flags = bytearray()
        expiry: array[int] = array("I")
        edits = [Edit(0, index.header_size, 0, len(header))]
        chunks: list[list[bytes]] = [[header]]
        new_at = len(header)
        last = 0
        for owner in order:
            i = index.position(owner)
            owners += index.owners[last:i]
            new_sizes += index.sizes[last:i]
            flags += index.nsec3[last:i]
            expiry += index.expiry[last:i]
            new_at += offsets[i] - offsets[last]
            end = i + 1 if index.contains(owner, i) else i
            block = rendered.get(owner, b"")
            if end == i and not block:
                continue  # neither in the previous file nor in the new one
            edit = Edit(offsets[i], offsets[end], new_at, new_at + len(block))
            prev = edits[-1]
            if prev.old_end == edit.old_start and prev.new_end == edit.new_start:
                edits[-1] = Edit(prev.old_start, edit.old_end, prev.new_start, edit.new_end)
                chunks[-1].append(block)
            else:
                edits.append(edit)
                chunks.append([block])
            new_at += len(block)
            if block:
                node = blocks[owner]
                owners.append(owner)
                new_sizes.append(len(block))
                flags.append(1 if node[0].rtype == RRType.NSEC3 else 0)
                expiry.append(earliest_expiration(node))
            last = end
        owners += index.owners[last:]
        new_sizes += index.sizes[last:]
        flags += index.nsec3[last:]
        expiry += index.expiry[last:]
        new_index = ZoneIndex(
            self.origin,
            len(header),
            owners,
            new_sizes,
            flags,
            expiry,
            index.parameters,
            signed=(0, 0),  # bound to the files once they are written
            unsigned=(0, 0),
        )
        return new_index, edits, chunks


def _unsigned(rrset: RRset) -> RRset:
    return RRset(rrset.owner, rrset.rtype, rrset.ttl, list(rrset.rdatas))


def _is_cut(node: list[RRset]) -> bool:
    return any(r.rtype == RRType.NS for r in node)


def _ancestors(owners: Iterable[bytes], origin: bytes) -> set[bytes]:
    out: set[bytes] = set()
    for owner in owners:
        name = owner
        while name != origin and len(name) > len(origin):
            name = names.parent(name)
            if name in out:
                break
            out.add(name)
    return out


def _apply(
    owner: bytes, current: list[RRset], gone: list[RRset] | None, new: list[RRset] | None
) -> list[RRset]:
    """An owner's unsigned RRsets with the removed records taken out and the added put in."""
    by_type = {r.rtype: (r.ttl, set(r.rdatas)) for r in current}
    for rrset in gone or ():
        have = by_type.get(rrset.rtype)
        if have is None or not have[1].issuperset(rrset.rdatas):
            raise CannotPatch(
                f"{names.to_text(rrset.owner)}: the previous input and signed zone disagree"
            )
        have[1].difference_update(rrset.rdatas)
    for rrset in new or ():
        have = by_type.get(rrset.rtype)
        if have is not None and not have[1].isdisjoint(rrset.rdatas):
            # The record was there and stays: the new file holds it twice, so a later
            # line diff could not tell its removal apart from a duplicate's.
            raise CannotPatch(f"{names.to_text(owner)}: a record appears twice in the input")
        if have is None or not have[1]:
            by_type[rrset.rtype] = (rrset.ttl, set(rrset.rdatas))
        elif have[0] != rrset.ttl:
            raise CannotPatch(f"{names.to_text(rrset.owner)}: TTLs differ within an RRset")
        else:
            have[1].update(rrset.rdatas)
    return [
        RRset(owner, rtype, ttl, sorted(rdatas))
        for rtype, (ttl, rdatas) in sorted(by_type.items())
        if rdatas
    ]

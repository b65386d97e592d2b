"""Verify a hash chain of audit entries and its signed checkpoints: every broken place.

``verify_chain`` reads entries in storage order (the database's ``ORDER BY seq``, or an
archive file's line order) in one pass, keeping a small window around the entry it
judges, and names each kind of tampering where it happened:

* modified: an entry's content no longer matches its hash; or an entry was rewritten
  with a recomputed hash, so the next entry commits to something else;
* deleted: sequence numbers are missing;
* inserted: an entry the chain does not include (the next entry commits to the one
  before it), a second entry with one number, or entries beyond the head row;
* reordered: an entry stored out of order, or renumbered (its content matches its hash
  only under another sequence number);
* truncated: a signed checkpoint or the head row names entries past the end;
* replaced: a signed checkpoint's head hash differs from the entry's: the chain up to it
  was rebuilt, which only the audit key could have made consistent;
* bad-signature, untrusted-key, unsigned, bad-start, malformed: checkpoints that do not
  verify, a chain no trusted checkpoint vouches for, a start that does not continue the
  previous archive, lines that are not entries.

Pure: values in, a report out (signature checks use ``cryptography``, no I/O).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tldsec.audit.entry import Checkpoint, Entry, format_time
from tldsec.audit.report import GENESIS, Anchor, Finding, FindingKind, VerifyReport
from tldsec.audit.signing import verify_signature

__all__ = ["GENESIS", "Anchor", "Finding", "FindingKind", "VerifyReport", "verify_chain"]

WINDOW = 64  # entries kept on each side of the one being judged
_RECOVERY_DEPTH = 8


@dataclass(slots=True, eq=False)
class _Item:
    entry: Entry
    ok: bool
    written_seq: int | None = None
    recovery_tried: bool = False
    inserted: bool = False
    flagged: bool = False


@dataclass(slots=True)
class _State:
    keys: Mapping[str, Ed25519PublicKey]
    anchor: Anchor | None
    findings: list[Finding] = field(default_factory=list)
    by_hash: dict[str, _Item] = field(default_factory=dict)
    by_seq: dict[int, list[_Item]] = field(default_factory=dict)
    committed: dict[str, int] = field(default_factory=dict)  # prev_hash -> entries naming it
    behind: deque[_Item] = field(default_factory=deque)
    ahead: deque[_Item] = field(default_factory=deque)
    checkpoints: dict[int, list[Checkpoint]] = field(default_factory=dict)
    confirmed: set[int] = field(default_factory=set)
    mismatched: dict[int, str] = field(default_factory=dict)
    count: int = 0
    first_seq: int | None = None
    max_seq: int | None = None
    last_item: _Item | None = None
    deleted_upto: int = -1  # newest sequence number reported deleted

    def add(self, kind: FindingKind, first: int | None, last: int | None, detail: str) -> None:
        self.findings.append(Finding(kind, first, last, detail))


def verify_chain(
    entries: Iterable[Entry],
    *,
    keys: Mapping[str, Ed25519PublicKey],
    checkpoints: Iterable[Checkpoint] = (),
    anchor: Anchor | None = GENESIS,
    head: Anchor | None = None,
    complete: bool = True,
    malformed: Iterable[Finding] = (),
) -> VerifyReport:
    """Check entries (in storage order) and checkpoints; report every broken place.

    ``keys`` maps key ids to the trusted audit public keys. ``anchor`` is where the
    chain must start (``None``: wherever its first entry says; a valid archive seal then
    supplies it). ``head`` is the database's head row. ``complete`` says the entries run
    to the end of the log, so a missing tail and an unsigned log are findings.
    """
    st = _State(keys=keys, anchor=anchor)
    cps = list(checkpoints)
    valid = _check_signatures(st, cps)
    if st.anchor is None:
        seals = sorted((c for c in valid if c.start is not None), key=lambda c: c.seq)
        if seals and seals[0].start is not None:
            start = seals[0].start
            st.anchor = Anchor(start[0], start[1], f"the archive seal of seq {seals[0].seq}")
    for cp in valid:
        st.checkpoints.setdefault(cp.seq, []).append(cp)
    for entry in entries:
        item = _Item(entry, entry.computed_hash() == entry.hash)
        st.count += 1
        st.ahead.append(item)
        st.by_hash[entry.hash] = item
        st.by_seq.setdefault(entry.seq, []).append(item)
        st.committed[entry.prev_hash] = st.committed.get(entry.prev_hash, 0) + 1
        if len(st.ahead) > WINDOW:
            _advance(st)
    while st.ahead:
        _advance(st)
    st.findings.extend(malformed)  # read last: a file reader fills it while streaming
    _finish(st, valid, head, complete)
    signed = [s for s in st.confirmed if st.max_seq is not None and s <= st.max_seq]
    return VerifyReport(
        findings=tuple(_merge(st.findings)),
        entries=st.count,
        first_seq=st.first_seq,
        last_seq=st.max_seq if st.count else None,
        checkpoints_total=len(cps),
        checkpoints_valid=len(valid),
        signed_upto=max(signed) if signed else None,
    )


def _check_signatures(st: _State, cps: list[Checkpoint]) -> list[Checkpoint]:
    valid: list[Checkpoint] = []
    for cp in cps:
        key = st.keys.get(cp.key_id)
        what = "archive seal" if cp.start is not None else "checkpoint"
        if key is None:
            st.add(
                FindingKind.UNTRUSTED_KEY,
                cp.seq,
                None,
                f"{what} of {format_time(cp.time)} is signed by key {cp.key_id}, "
                "which is not a trusted audit key",
            )
        elif not verify_signature(key, cp.signature, cp.message()):
            st.add(
                FindingKind.BAD_SIGNATURE,
                cp.seq,
                None,
                f"{what} of {format_time(cp.time)} has an invalid signature "
                f"(key {cp.key_id}): it was altered or forged",
            )
        else:
            valid.append(cp)
    return valid


def _advance(st: _State) -> None:
    item = st.ahead.popleft()
    _judge(st, item)
    st.behind.append(item)
    st.last_item = item
    if len(st.behind) > WINDOW:
        old = st.behind.popleft()
        if st.by_hash.get(old.entry.hash) is old:
            del st.by_hash[old.entry.hash]
        same = st.by_seq[old.entry.seq]
        same.remove(old)
        if not same:
            del st.by_seq[old.entry.seq]
        left = st.committed[old.entry.prev_hash] - 1
        if left:
            st.committed[old.entry.prev_hash] = left
        else:
            del st.committed[old.entry.prev_hash]


def _judge(st: _State, x: _Item) -> None:
    e = x.entry
    seq = e.seq
    prev = st.last_item
    nxt = st.ahead[0] if st.ahead else None
    # 1. Content against its own hash.
    if not x.ok:
        x.flagged = True
        written = _written_seq(st, x, 0)
        if written is not None:
            change = written - seq
            st.add(
                FindingKind.REORDERED,
                seq,
                None,
                f"renumbered: it was written as the entry {abs(change)} "
                f"{'after' if change > 0 else 'before'} this place",
            )
        else:
            st.add(FindingKind.MODIFIED, seq, None, "content does not match its hash")
    # 2. An entry the chain skips: the next entry commits to the one before it, and no
    #    entry nearby commits to this one.
    if (
        prev is not None
        and nxt is not None
        and nxt.entry.prev_hash == prev.entry.hash
        and e.hash != prev.entry.hash
        and e.hash not in st.committed
        and not x.flagged
    ):
        x.inserted = x.flagged = True
        st.add(
            FindingKind.INSERTED,
            seq,
            None,
            f"not part of the chain: the entry after it commits to seq {prev.entry.seq}",
        )
    # 3. Storage order against sequence numbers.
    if st.max_seq is None:
        st.first_seq = seq
        _check_start(st, x)
    elif seq > st.max_seq + 1:
        _report_gap(st, st.max_seq + 1, seq - 1)
    elif seq <= st.max_seq and not x.flagged:
        twins = [i for i in st.by_seq.get(seq, []) if i is not x]
        if any(i.inserted for i in twins):
            pass
        elif twins:
            x.inserted = x.flagged = True
            st.add(FindingKind.INSERTED, seq, None, "a second entry with this sequence number")
        else:
            st.add(FindingKind.REORDERED, seq, None, f"stored after seq {st.max_seq}")
    if st.max_seq is None or seq > st.max_seq:
        st.max_seq = seq
    # 4. The hash it commits to.
    if x.ok and not x.inserted:
        _check_link(st, x)
    # 5. Signed checkpoints at this entry.
    true_seq = x.written_seq if x.written_seq is not None else seq
    for cp in st.checkpoints.get(true_seq, ()):
        if cp.head_hash == e.hash:
            st.confirmed.add(cp.seq)
        else:
            st.mismatched.setdefault(cp.seq, e.hash)


def _written_seq(st: _State, x: _Item, depth: int) -> int | None:
    """The sequence number under which the entry's content matches its hash, if any."""
    if x.ok:
        return x.entry.seq
    if x.recovery_tried:
        return x.written_seq
    x.recovery_tried = True
    e = x.entry
    candidates: list[int] = []
    pred = st.by_hash.get(e.prev_hash)
    if pred is not None and pred is not x and depth < _RECOVERY_DEPTH:
        pred_seq = _written_seq(st, pred, depth + 1)
        if pred_seq is not None:
            candidates.append(pred_seq + 1)
    elif st.anchor is not None and e.prev_hash == st.anchor.hash:
        candidates.append(st.anchor.seq + 1)
    candidates += [e.seq - 1, e.seq + 1]
    for candidate in dict.fromkeys(candidates):
        if candidate > 0 and candidate != e.seq and e.computed_hash(candidate) == e.hash:
            x.written_seq = candidate
            break
    return x.written_seq


def _check_start(st: _State, x: _Item) -> None:
    e = x.entry
    if st.anchor is None and e.seq == 1:
        st.anchor = GENESIS  # whatever the source, entry 1 follows the genesis hash
    anchor = st.anchor
    if anchor is None:
        return
    expected = anchor.seq + 1
    if e.seq > expected:
        _report_gap(st, expected, e.seq - 1, f" (the log continues {anchor.source})")
    elif e.seq < expected and not x.flagged:
        st.add(
            FindingKind.BAD_START,
            e.seq,
            None,
            f"the chain should start at seq {expected}, after {anchor.source}",
        )
    elif e.seq == expected and x.ok and e.prev_hash != anchor.hash:
        st.add(
            FindingKind.BAD_START,
            e.seq,
            None,
            f"does not continue {anchor.source} (seq {anchor.seq}, hash {anchor.hash[:16]}...)",
        )


def _report_gap(st: _State, first: int, last: int, note: str = "") -> None:
    """Missing numbers, except those still ahead in the window (they come out of order)."""
    later = sorted(s for s in st.by_seq if first <= s <= last)
    start = first
    for s in [*later, last + 1]:
        if start <= s - 1:
            st.add(FindingKind.DELETED, start, s - 1, f"entries are missing{note}")
            st.deleted_upto = max(st.deleted_upto, s - 1)
        start = s + 1


def _check_link(st: _State, x: _Item) -> None:
    e = x.entry
    pred = st.by_hash.get(e.prev_hash)
    if pred is not None and not pred.inserted:
        if pred.ok and pred.entry.seq != e.seq - 1 and pred.entry.seq < e.seq:
            st.add(
                FindingKind.MODIFIED,
                e.seq,
                None,
                f"the chain runs from seq {pred.entry.seq} straight to seq {e.seq}",
            )
        return
    anchor = st.anchor
    if anchor is not None and e.prev_hash == anchor.hash and e.seq == anchor.seq + 1:
        return
    if e.seq == st.first_seq or e.seq - 1 <= st.deleted_upto:
        return  # the start is judged by the anchor; a gap is already reported
    candidates = [i for i in st.by_seq.get(e.seq - 1, []) if not i.inserted]
    if not candidates:
        st.add(
            FindingKind.MODIFIED,
            e.seq,
            None,
            "commits to a previous entry that is not in the log",
        )
        return
    q = candidates[0]
    if q.ok and not q.flagged:
        q.flagged = True
        st.add(
            FindingKind.MODIFIED,
            q.entry.seq,
            None,
            f"rewritten with a recomputed hash: entry {e.seq} commits to a different entry",
        )


def _finish(st: _State, valid: list[Checkpoint], head: Anchor | None, complete: bool) -> None:
    last = st.max_seq if st.max_seq is not None else (st.anchor.seq if st.anchor else None)
    first = st.first_seq
    # The furthest signed evidence past the end names the cut once.
    beyond = [cp for cp in valid if last is not None and cp.seq > last and complete]
    if beyond:
        cp = max(beyond, key=lambda c: c.seq)
        assert last is not None
        st.add(
            FindingKind.TRUNCATED,
            last + 1,
            cp.seq,
            f"the checkpoint signed {format_time(cp.time)} covers seq {cp.seq}, "
            f"but the log ends at seq {last}: its tail was cut",
        )
    for cp in valid:
        if cp.seq in st.confirmed:
            continue
        if cp.seq in st.mismatched:
            st.add(
                FindingKind.REPLACED,
                cp.seq,
                None,
                f"the checkpoint signed {format_time(cp.time)} says this entry's hash is "
                f"{cp.head_hash[:16]}..., the log has {st.mismatched[cp.seq][:16]}...: "
                "the chain up to here was rewritten",
            )
    if complete and head is not None and last is not None:
        if head.seq > last and not (beyond and max(c.seq for c in beyond) >= head.seq):
            st.add(
                FindingKind.TRUNCATED,
                last + 1,
                head.seq,
                f"{head.source} records seq {head.seq}, but the log ends at seq {last}",
            )
        elif head.seq < last:
            st.add(
                FindingKind.INSERTED,
                head.seq + 1,
                last,
                f"entries beyond {head.source} (seq {head.seq}) were not added by the writer",
            )
        elif st.last_item is not None and st.last_item.entry.hash != head.hash:
            st.add(
                FindingKind.REPLACED,
                head.seq,
                None,
                f"{head.source} records another hash for the last entry",
            )
    if complete and st.count and not st.confirmed:
        st.add(
            FindingKind.UNSIGNED,
            first,
            st.max_seq,
            "no checkpoint signed by a trusted audit key vouches for these entries",
        )


def _merge(findings: list[Finding]) -> list[Finding]:
    """Sort by place (log-wide findings last); fold runs on consecutive entries into ranges."""
    ordered = sorted(
        findings,
        key=lambda f: (f.kind is FindingKind.UNSIGNED, f.first_seq is None, f.first_seq or 0),
    )
    merged: list[Finding] = []
    for f in ordered:
        if merged:
            m = merged[-1]
            m_last = m.last_seq if m.last_seq is not None else m.first_seq
            if (
                m.kind is f.kind
                and m.detail == f.detail
                and m_last is not None
                and f.first_seq == m_last + 1
            ):
                merged[-1] = Finding(m.kind, m.first_seq, f.last_seq or f.first_seq, m.detail)
                continue
        merged.append(f)
    return merged

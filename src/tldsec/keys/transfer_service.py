"""The operator transfer (``keys/transfer.py``) on the signer database and the parent.

Each change is one of the key manager's transactions (the zone row locked first): the
foreign keys and the handover's facts are written beside the key records they depend
on, and each is recorded in the audit log before the command reports success.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from tldsec.dnscore.rdata import to_text as rdata_text
from tldsec.errors import TransferRefused
from tldsec.keys import gates, transfer
from tldsec.keys.ds import DEFAULT_DIGEST_TYPES, DsRecord, ds_for_key
from tldsec.keys.models import META_ID, ForeignKeyRow, KeyRow, SignerMeta
from tldsec.keys.parentproof import TrustAnchor
from tldsec.keys.rollover import Outcome
from tldsec.keys.state import KeyRecord, Transition
from tldsec.keys.transfer import ForeignKey, Transfer, TransferStep

if TYPE_CHECKING:
    from tldsec.keys.service import KeyManager

DNSKEY = 48


def load(session: Session, zone_id: int = META_ID) -> Transfer | None:
    """The zone's transfer under way (or ended), read in ``session``; None if none."""
    meta = session.get(SignerMeta, zone_id)
    if meta is None or meta.transfer_started is None:
        return None
    rows = session.scalars(
        select(ForeignKeyRow).where(ForeignKeyRow.zone_id == zone_id).order_by(ForeignKeyRow.id)
    )
    return Transfer(
        operator=meta.transfer_operator or "",
        started=meta.transfer_started,
        keys=tuple(r.to_key() for r in rows),
        peer_ds_seen=meta.transfer_peer_ds_seen,
        handed_over=meta.transfer_handed_over,
        ended=meta.transfer_ended,
    )


@dataclass(frozen=True, slots=True)
class Export:
    """What the gaining operator needs from us: our DNSKEY RRset (its ZSKs go into its
    own DNSKEY RRset) and our DS (the parent holds both during the overlap)."""

    dnskey_lines: tuple[str, ...]
    ds: tuple[DsRecord, ...]

    def text(self) -> str:
        return "".join(
            line + "\n" for line in (*self.dnskey_lines, *(d.zone_line() for d in self.ds))
        )


class TransferManager:
    """The handover of the zone to another operator, on a ``KeyManager``'s database."""

    def __init__(self, keys: KeyManager) -> None:
        self.keys = keys

    def current(self) -> Transfer | None:
        with self.keys._read() as session:
            self.keys._check_meta(session)
            return load(session, self.keys.zone_id)

    def status(self, now: datetime | None = None) -> list[TransferStep]:
        tr = self.current()
        if tr is None:
            raise TransferRefused(
                "no transfer under way: 'tldsec keys transfer import-dnskey FILE "
                "--operator NAME' starts one"
            )
        at = now or self.keys._clock.now()
        return transfer.steps(tr, self.keys.key_records(), self.keys.timing, at)

    def peer_ds(self, digest_types: Sequence[int] = DEFAULT_DIGEST_TYPES) -> list[DsRecord]:
        """The DS the parent is to hold for the gaining operator's KSKs."""
        tr = self.current()
        if tr is None:
            return []
        now = self.keys._clock.now()
        ttl = int(self.keys.timing.parent_ds_ttl.total_seconds())
        return [
            ds_for_key(k.as_record(), self.keys.origin, dt, ttl, now)
            for k in tr.ksks(now)
            for dt in digest_types
        ]

    def export(self, digest_types: Sequence[int] = DEFAULT_DIGEST_TYPES) -> Export:
        """Our own published DNSKEYs (not the imported ones) and our DS."""
        now = self.keys._clock.now()
        config = self.keys.signing_config(now)
        origin, ttl = self.keys.origin, config.dnskey_ttl
        ours = [k for k in config.published if not k.key_id.startswith("foreign:")]
        lines = tuple(
            f"{origin} {ttl} IN DNSKEY {rdata_text(DNSKEY, k.dnskey_rdata)}" for k in ours
        )
        return Export(lines, tuple(self.keys.export_ds(digest_types, now=now)))

    # --- changes -------------------------------------------------------------------------

    def import_dnskeys(self, text: str, operator: str, reason: str) -> list[ForeignKey]:
        """Record the gaining operator's DNSKEYs; the transfer starts with the first import."""
        if not operator.strip():
            raise TransferRefused("name the gaining operator (--operator)")
        added: list[ForeignKey] = []

        def change(meta: SignerMeta, now: datetime) -> None:
            session = _session(meta)
            current = load(session, meta.id)
            if current is not None and current.operator != operator:
                raise TransferRefused(
                    f"a transfer to {current.operator} is under way; cancel it first "
                    "('tldsec keys transfer cancel')"
                )
            new = transfer.parse_dnskeys(text, self.keys.origin, operator, now)
            zone_keys = select(KeyRow).where(KeyRow.zone_id == meta.id)
            records = tuple(r.to_record() for r in session.scalars(zone_keys))
            transfer.check_import(new, records, current, self.keys.policy, now)
            if current is None:
                if meta.insecure_requested is not None:
                    raise TransferRefused(
                        "the zone is going insecure: cancel that first ('keys go-insecure "
                        "--cancel'); a transfer keeps the zone signed throughout"
                    )
                meta.transfer_operator = operator
                meta.transfer_started = now
            for k in new:
                session.add(
                    ForeignKeyRow(
                        zone_id=meta.id,
                        operator=operator,
                        flags=k.flags,
                        algorithm=int(k.algorithm),
                        public_key=k.public_key,
                        key_tag=k.key_tag,
                        imported=now,
                    )
                )
            added.extend(new)

        self.keys._write(lambda keys, now: Outcome(keys), meta_change=change)
        self._record(
            "key.transfer_started",
            operator=operator,
            reason=reason,
            imported=[f"{k.role} {k.key_tag} algorithm {int(k.algorithm)}" for k in added],
        )
        return added

    def check_parent(
        self,
        servers: Sequence[gates.ParentServer],
        anchor: TrustAnchor,
        timeout: float = gates.DEFAULT_TIMEOUT,
    ) -> tuple[gates.ParentCheck, bool]:
        """Ask the parent, validated from its trust anchor, whether it serves the gaining
        operator's DS; the first time it does, record when (the DS caches start then)."""
        check, served = self._parent(servers, anchor, timeout)
        if not served:
            return check, False
        recorded: list[datetime] = []

        def change(meta: SignerMeta, now: datetime) -> None:
            if meta.transfer_peer_ds_seen is None:
                meta.transfer_peer_ds_seen = now
                recorded.append(now)

        self.keys._write(lambda keys, now: Outcome(keys), meta_change=change)
        if recorded:
            self._record(
                "key.transfer_peer_ds_seen",
                servers=[str(a.server) for a in check.answers],
            )
        return check, True

    def handover(
        self,
        servers: Sequence[gates.ParentServer],
        anchor: TrustAnchor,
        reason: str,
        timeout: float = gates.DEFAULT_TIMEOUT,
    ) -> Transfer:
        """The point of no return: checked against the parent now (validated), then the
        parent is asked to delegate to the gaining operator's servers only."""
        _check, served = self._parent(servers, anchor, timeout)
        done: list[Transfer] = []

        def change(meta: SignerMeta, now: datetime) -> None:
            tr = transfer.check_handover(
                load(_session(meta), meta.id), self.keys.timing, now, served
            )
            meta.transfer_handed_over = now
            done.append(tr)

        self.keys._write(lambda keys, now: Outcome(keys), meta_change=change)
        self._record("key.transfer_handed_over", operator=done[0].operator, reason=reason)
        return done[0]

    def cancel(self, reason: str) -> Transfer:
        """Before the handover: the foreign keys leave our DNSKEY RRset at the next cycle."""
        done: list[Transfer] = []

        def change(meta: SignerMeta, now: datetime) -> None:
            session = _session(meta)
            tr = load(session, meta.id)
            if tr is None:
                raise TransferRefused("no transfer under way: nothing to cancel")
            if tr.handed_over is not None:
                raise TransferRefused(
                    f"the zone was handed over to {tr.operator} at {tr.handed_over}: that was "
                    "the point of no return; the delegation is theirs"
                )
            for row in session.scalars(
                select(ForeignKeyRow).where(ForeignKeyRow.zone_id == meta.id)
            ):
                if row.withdrawn is None:
                    row.withdrawn = now
            meta.transfer_operator = None
            meta.transfer_started = None
            meta.transfer_peer_ds_seen = None
            done.append(tr)

        self.keys._write(lambda keys, now: Outcome(keys), meta_change=change)
        self._record("key.transfer_cancelled", operator=done[0].operator, reason=reason)
        return done[0]

    def run_due(self) -> list[Transition]:
        """After the handover: our DS withdrawal, then the end of our role, when due."""
        # The handover's facts only move forward, so the transfer read before the write
        # is still true under the zone's lock.
        tr = self.current()
        if tr is None or tr.handed_over is None or tr.ended is not None:
            return []
        ended: list[str] = []

        def op(keys: tuple[KeyRecord, ...], now: datetime) -> Outcome:
            assert tr is not None
            outcome, end = transfer.after_handover(tr, keys, self.keys.timing, now)
            if end:
                ended.append(tr.operator)
            return outcome

        def mark(meta: SignerMeta, now: datetime) -> None:
            if ended:
                meta.transfer_ended = now

        made = list(self.keys._write(op, meta_change=mark).transitions)
        if ended:
            self._record("key.transfer_ended", operator=ended[0])
        return made

    # --- plumbing --------------------------------------------------------------------------

    def _parent(
        self, servers: Sequence[gates.ParentServer], anchor: TrustAnchor, timeout: float
    ) -> tuple[gates.ParentCheck, bool]:
        tr = self.current()
        if tr is None:
            raise TransferRefused("no transfer under way: nothing to look for at the parent")
        if not servers:
            raise TransferRefused("no parent name servers configured ([keys] parent_servers)")
        now = self.keys._clock.now()
        check = gates.check_parent(self.keys.origin, servers, anchor, now.timestamp(), timeout)
        problem = self.keys.parent_ttl_problem(check)
        if problem is not None:
            raise TransferRefused(problem)
        ksks = tr.ksks(now)
        served = (
            check.complete
            and bool(ksks)
            and all(len(check.serving(k.as_record())) == len(check.answers) for k in ksks)
        )
        return check, served

    def _record(self, event: str, **details: object) -> None:
        self.keys.recorder(event, actor=self.keys._actor, zone=self.keys.origin, **details)


def _session(meta: SignerMeta) -> Session:
    session = object_session(meta)
    assert session is not None
    return session

"""The signer database's key tables (DPS 5.6: apart from the registry database).

``signer_keys`` holds one row per key with its facts (``keys/state.py``); the key tag
is unique in its zone, which is the tag-collision rule enforced once more by the
database. ``signer_key_events`` is the append-only history of every transition, with
its time, reason and actor (DPS 2.2, 4.4.1). ``signer_meta`` is one row per zone (its
``id`` the registry's zone id, decision 57); every write locks its zone's row first, so
two key managers never act on the same keys at once. Every row names its zone
(``zone_id``; the database's default is zone 1, a one-zone home's, decision 60).
``signer_foreign_keys`` holds the public DNSKEYs of an operator the zone is handed to
(DPS 4.6, ``keys/transfer.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tldsec.db.types import UtcDateTime as UTCDateTime
from tldsec.keys.state import KeyEvent, KeyRecord, Role, Transition
from tldsec.keys.transfer import ForeignKey
from tldsec.policy import Algorithm

META_ID = 1  # the zone of a one-zone home (and of every row nobody named one for)


def zone_id_column() -> Mapped[int]:
    """``zone_id`` NOT NULL, zone 1 when a writer leaves it out (the database's default:
    an insert that names no zone is the statement it was)."""
    return mapped_column(Integer, server_default=str(META_ID))


class SignerBase(DeclarativeBase):
    """The tables of the signer database, and only those."""


class SignerMeta(SignerBase):
    """The zone this signer database belongs to; the row every writer locks."""

    __tablename__ = "signer_meta"
    __table_args__ = (UniqueConstraint("origin", name="uq_signer_meta_origin"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    origin: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    writes: Mapped[int] = mapped_column(Integer, default=0)
    # The zone is going insecure (DPS 4.6, keys/go_insecure.py): since when and why;
    # None when not (a cancel clears it; the audit log keeps both).
    insecure_requested: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    insecure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Going insecure's last step was taken (every key retired, keys/go_insecure.py): the
    # zone is published unsigned from then on, and the gate accepts it only with this
    # fact (decision 46). Set once, in the transaction that removed the keys.
    unsigned_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The zone is being handed to another operator (DPS 4.6, keys/transfer.py): to whom,
    # and the handover's facts; all None when no transfer is under way.
    transfer_operator: Mapped[str | None] = mapped_column(String(255), nullable=True)
    transfer_started: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    transfer_peer_ds_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    transfer_handed_over: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    transfer_ended: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class KeyRow(SignerBase):
    """One key: identity, public half and the facts of its life."""

    __tablename__ = "signer_keys"
    # RFC 4034 Appendix B: a key tag names a key within its zone (tag-collision rule).
    __table_args__ = (
        UniqueConstraint("zone_id", "key_tag", name="uq_signer_keys_zone_id_key_tag"),
    )

    key_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    zone_id: Mapped[int] = zone_id_column()
    role: Mapped[str] = mapped_column(String(3))
    algorithm: Mapped[int] = mapped_column(Integer)
    bits: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_tag: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(255), default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    active: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ds_submitted: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ds_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ds_withdrawal_requested: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ds_withdrawn: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    compromised: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rollover_requested: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    backed_up: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    presigned: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unpublished: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def to_record(self) -> KeyRecord:
        return KeyRecord(
            key_id=self.key_id,
            role=Role(self.role),
            algorithm=Algorithm(self.algorithm),
            bits=self.bits,
            public_key=self.public_key,
            created=self.created,
            label=self.label,
            published=self.published,
            active=self.active,
            retired=self.retired,
            removed=self.removed,
            ds_submitted=self.ds_submitted,
            ds_seen=self.ds_seen,
            ds_withdrawal_requested=self.ds_withdrawal_requested,
            ds_withdrawn=self.ds_withdrawn,
            compromised=self.compromised,
            rollover_requested=self.rollover_requested,
            backed_up=self.backed_up,
            presigned=self.presigned,
            unpublished=self.unpublished,
        )

    @classmethod
    def from_record(cls, record: KeyRecord, zone_id: int = META_ID) -> KeyRow:
        row = cls(
            zone_id=zone_id,
            key_id=record.key_id,
            role=str(record.role),
            algorithm=int(record.algorithm),
            bits=record.bits,
            public_key=record.public_key,
            key_tag=record.key_tag,
            label=record.label,
            created=record.created,
        )
        row.update_facts(record)
        return row

    def update_facts(self, record: KeyRecord) -> None:
        """Copy the facts of ``record`` (identity never changes)."""
        self.published = record.published
        self.active = record.active
        self.retired = record.retired
        self.removed = record.removed
        self.ds_submitted = record.ds_submitted
        self.ds_seen = record.ds_seen
        self.ds_withdrawal_requested = record.ds_withdrawal_requested
        self.ds_withdrawn = record.ds_withdrawn
        self.compromised = record.compromised
        self.rollover_requested = record.rollover_requested
        self.backed_up = record.backed_up
        self.presigned = record.presigned
        self.unpublished = record.unpublished


class ForeignKeyRow(SignerBase):
    """A DNSKEY of the gaining operator (keys/transfer.py): public only, never in the HSM."""

    __tablename__ = "signer_foreign_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = zone_id_column()
    operator: Mapped[str] = mapped_column(String(255))
    flags: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_tag: Mapped[int] = mapped_column(Integer)
    imported: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def to_key(self) -> ForeignKey:
        return ForeignKey(
            flags=self.flags,
            algorithm=Algorithm(self.algorithm),
            public_key=self.public_key,
            operator=self.operator,
            imported=self.imported,
            withdrawn=self.withdrawn,
        )


class KeyEventRow(SignerBase):
    """One recorded transition; rows are only ever added."""

    __tablename__ = "signer_key_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = zone_id_column()
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    event: Mapped[str] = mapped_column(String(40))
    # Not a foreign key: a discarded key (tag collision) has events but no key row.
    key_id: Mapped[str] = mapped_column(String(128), index=True)
    key_tag: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(140))

    def to_transition(self) -> Transition:
        return Transition(
            time=self.time,
            event=KeyEvent(self.event),
            key_id=self.key_id,
            key_tag=self.key_tag,
            role=Role(self.role),
            reason=self.reason,
        )

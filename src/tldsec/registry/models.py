"""The registry's tables: registrars, contacts, hosts, domains, DS, history, zone changes
and the zone digest.

Facts only: statuses a client or the registry set, DS and NS as rows. Derived states
("ok", "inactive", "linked", "pendingTransfer") are computed when an object is read.
What belongs to a zone carries its ``zone_id`` (decision 57).
The schema is created by the Alembic migrations in ``tldsec/db/migrations/registry``;
these classes must match them (a test compares both).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tldsec.db.base import Base
from tldsec.db.types import UtcDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# The zone of a row nobody named one for: a one-zone registry's only zone (decision 60),
# so that its writers need not look the zone up until they serve several.
FIRST_ZONE = 1


def zone_id_column(*, primary_key: bool = False) -> Mapped[int]:
    """``zone_id`` NOT NULL, zone 1 when a writer leaves it out: the database's default,
    so that an insert that names no zone is the same statement as before (the older
    migrations' back-fills insert through these models); a key column also gets it in
    Python, the ORM needing the whole key of what it adds."""
    if primary_key:
        return mapped_column(
            Integer, primary_key=True, default=FIRST_ZONE, server_default=str(FIRST_ZONE)
        )
    return mapped_column(Integer, server_default=str(FIRST_ZONE))


class Zone(Base):
    """A TLD the registry serves (decision 57): its origin and the policy it follows."""

    __tablename__ = "zone"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(254), unique=True)  # "example."
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    policy: Mapped[str] = mapped_column(String(64), server_default="default")  # [policies]
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RegistrarZone(Base):
    """A registrar's accreditation for a zone (decision 57, as FRED's registrar zone
    access): from ``accredited_at`` until ``revoked_at`` (NULL: open-ended)."""

    __tablename__ = "registrar_zone"

    registrar_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"), primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id"), primary_key=True, index=True)
    accredited_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Registrar(Base):
    """A registrar: the only kind of client of the EPP server (DPS 1.3.2)."""

    __tablename__ = "registrar"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the DER client certificate, lower-case hex; None = no certificate pinned.
    cert_fingerprint: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The networks it logs in from, CIDRs separated by spaces; None = any address.
    allowed_networks: Mapped[str | None] = mapped_column(Text)


class LoginFailure(Base):
    """One failed EPP login, counted under a key ("pair:ID@ADDRESS", "peer:ADDRESS"):
    the counter every EPP process and host shares (``epp/login.py``)."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("login_failure_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(96))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConsoleUser(Base):
    """A person of a registrar who logs in to the registrar console: the registrar's EPP
    password plus this person's TOTP (``tldsec registrar totp``). The TOTP secret is
    stored encrypted with the console's key file (``console/totp.py``);
    ``totp_last_step`` refuses a code used once already (RFC 6238 5.2)."""

    __tablename__ = "console_user"
    __table_args__ = (UniqueConstraint("registrar_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registrar_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"))
    name: Mapped[str] = mapped_column(String(64))
    totp_secret: Mapped[str] = mapped_column(Text)  # Fernet token of the base32 secret
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Contact(Base):
    """A contact object (RFC 5733), as far as a domain's registrant and contacts need."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(16), unique=True)
    registrar_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"))
    updater_id: Mapped[int | None] = mapped_column(ForeignKey("registrar.id"))
    # The postalInfo elements as JSON: [{"type": "int", "name": ..., "org": ..., ...}].
    postal_json: Mapped[str] = mapped_column(Text)
    voice: Mapped[str | None] = mapped_column(String(32))
    fax: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(255))
    auth_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ContactStatus(Base):
    __tablename__ = "contact_status"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(32), primary_key=True)


class Domain(Base):
    """A registered domain: one label below the TLD, sponsored by one registrar."""

    __tablename__ = "domain"
    __table_args__ = (Index("ix_domain_zone_id_name", "zone_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    zone_id: Mapped[int] = zone_id_column()
    registrar_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"), index=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"))
    updater_id: Mapped[int | None] = mapped_column(ForeignKey("registrar.id"))
    registrant_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    auth_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    transferred_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The latest transfer (RFC 5731 3.1.3); status None = never transferred.
    transfer_status: Mapped[str | None] = mapped_column(String(20))
    transfer_gaining_id: Mapped[int | None] = mapped_column(ForeignKey("registrar.id"))
    transfer_losing_id: Mapped[int | None] = mapped_column(ForeignKey("registrar.id"))
    transfer_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transfer_action_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transfer_years: Mapped[int | None] = mapped_column(Integer)


class DomainStatus(Base):
    __tablename__ = "domain_status"

    domain_id: Mapped[int] = mapped_column(
        ForeignKey("domain.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(32), primary_key=True)


class DomainContact(Base):
    __tablename__ = "domain_contact"

    domain_id: Mapped[int] = mapped_column(
        ForeignKey("domain.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)


class Host(Base):
    """A name server (RFC 5732); hosts under the TLD carry their addresses as glue."""

    __tablename__ = "host"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    # The zone the host is in-bailiwick of (its glue's zone); NULL outside every zone.
    zone_id: Mapped[int | None] = mapped_column(Integer, index=True)
    registrar_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"))
    updater_id: Mapped[int | None] = mapped_column(ForeignKey("registrar.id"))
    # For a host under the TLD, the registrable name above it ("a.tld" for "ns1.a.tld"),
    # registered or not: when that domain is deleted while other domains still use
    # the host, the host lives on as an orphan (DPS 6.6). NULL for hosts outside the TLD.
    parent_name: Mapped[str | None] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class HostAddress(Base):
    __tablename__ = "host_address"

    host_id: Mapped[int] = mapped_column(
        ForeignKey("host.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(45), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class HostStatus(Base):
    __tablename__ = "host_status"

    host_id: Mapped[int] = mapped_column(
        ForeignKey("host.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(32), primary_key=True)


class DomainNs(Base):
    """A domain's name server; a host in use cannot be deleted (RFC 5732 3.2.2)."""

    __tablename__ = "domain_ns"

    domain_id: Mapped[int] = mapped_column(
        ForeignKey("domain.id", ondelete="CASCADE"), primary_key=True
    )
    host_id: Mapped[int] = mapped_column(ForeignKey("host.id"), primary_key=True, index=True)


class DsRecord(Base):
    """One DS record of a domain (RFC 4034 5.1), digest in upper-case hex."""

    __tablename__ = "ds_record"

    domain_id: Mapped[int] = mapped_column(
        ForeignKey("domain.id", ondelete="CASCADE"), primary_key=True
    )
    key_tag: Mapped[int] = mapped_column(Integer, primary_key=True)
    algorithm: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest_type: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(128), primary_key=True)


class PollMessage(Base):
    """A message waiting in a registrar's queue (RFC 5730 2.9.2.3)."""

    __tablename__ = "poll_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    registrar_id: Mapped[int] = mapped_column(ForeignKey("registrar.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    text: Mapped[str] = mapped_column(Text)
    # For transfer notices: the domain:trnData fields as JSON.
    transfer_json: Mapped[str | None] = mapped_column(Text)


class HistoryEntry(Base):
    """One registry mutation, written in the same transaction as the mutation."""

    __tablename__ = "registry_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    client_id: Mapped[str] = mapped_column(String(16))
    object_type: Mapped[str] = mapped_column(String(16))
    object_name: Mapped[str] = mapped_column(String(253), index=True)
    action: Mapped[str] = mapped_column(String(32))
    sv_trid: Mapped[str] = mapped_column(String(64))
    cl_trid: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)


class ZoneChange(Base):
    """A mutation that can change the TLD zone; the cycle's change-driven mode watches these."""

    __tablename__ = "zone_change"
    __table_args__ = (Index("ix_zone_change_zone_id_id", "zone_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)  # global, increasing
    zone_id: Mapped[int] = zone_id_column()
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    name: Mapped[str] = mapped_column(String(253))
    reason: Mapped[str] = mapped_column(String(32))
    # The transaction's change to the zone digest (``registry/zonedigest.py``): the sum
    # modulo 2^256, 64 hex digits, and the record count's change; NULL: nothing.
    digest_delta: Mapped[str | None] = mapped_column(String(64))
    count_delta: Mapped[int | None] = mapped_column(Integer)
    # Who asked (decision 51): the EPP (or console) transaction ids and the registrar;
    # NULL for the registry's own and bulk changes, which are not traced.
    sv_trid: Mapped[str | None] = mapped_column(String(64), index=True)
    cl_trid: Mapped[str | None] = mapped_column(String(64))
    registrar_id: Mapped[int | None] = mapped_column(Integer)


class ChangeTrace(Base):
    """A traced zone change included in a built serial (decision 51): one row per change
    and serial, written by the cycle in one statement."""

    __tablename__ = "change_trace"

    change_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)


class SerialTrace(Base):
    """When a serial passed a stage: built, signed, verified, published, refused (by the
    cycle); served (``node``: the secondary) and live (every secondary), by the trace
    worker. Per serial, not per change: a change's steps are its serials' steps."""

    __tablename__ = "serial_trace"

    zone_id: Mapped[int] = zone_id_column(primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class TraceNode(Base):
    """A secondary some primary asks for its serial, registered by that primary's live
    pass (``trace/live.py``) and renewed every minute: "live" waits for every secondary
    of every primary (two sites' primaries each feed their own), not one primary's;
    per zone, as a secondary serves only its ``zones`` (decision 72)."""

    __tablename__ = "trace_node"

    zone_id: Mapped[int] = zone_id_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    primary: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ChangeNote(Base):
    """A poll message queued for a traced change (``kind``: advisory, live), so each is
    queued once whichever process finds it due."""

    __tablename__ = "change_note"

    change_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class ZoneDigest(Base):
    """The registry's digest of what the zone holds at one owner (``zonedigest``): the
    record count and the sum of the records' SHA-256 as eight 32-bit limbs (``d0`` least
    significant), each only ever added to, so reduced modulo 2^256 when read."""

    __tablename__ = "zone_digest"
    __table_args__ = (Index("ix_zone_digest_zone_id", "zone_id"),)

    # An owner name is in one zone only (zones are not nested, decision 57), so it stays
    # the key; a zone's digest is the sum of its rows (decision 60).
    owner: Mapped[str] = mapped_column(String(254), primary_key=True)
    zone_id: Mapped[int] = zone_id_column()
    count: Mapped[int] = mapped_column(BigInteger)
    d0: Mapped[int] = mapped_column(BigInteger)
    d1: Mapped[int] = mapped_column(BigInteger)
    d2: Mapped[int] = mapped_column(BigInteger)
    d3: Mapped[int] = mapped_column(BigInteger)
    d4: Mapped[int] = mapped_column(BigInteger)
    d5: Mapped[int] = mapped_column(BigInteger)
    d6: Mapped[int] = mapped_column(BigInteger)
    d7: Mapped[int] = mapped_column(BigInteger)


class EppTransaction(Base):
    """The EPP transaction log: one row per command, whatever its result."""

    __tablename__ = "epp_transaction"
    __table_args__ = (UniqueConstraint("sv_trid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    zone_id: Mapped[int | None] = mapped_column(Integer)  # NULL: login, poll, hello
    client_id: Mapped[str | None] = mapped_column(String(16))
    peer: Mapped[str | None] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(String(32))
    object_name: Mapped[str | None] = mapped_column(String(253))
    cl_trid: Mapped[str | None] = mapped_column(String(64))
    sv_trid: Mapped[str] = mapped_column(String(64))
    result_code: Mapped[int] = mapped_column(Integer)
    duration_us: Mapped[int] = mapped_column(BigInteger)


class ZoneSerial(Base):
    """The last SOA serial the zone builder handed out: one row per zone, ``id`` its
    zone's id (decision 60; a one-zone registry's row 1 is zone 1)."""

    __tablename__ = "zone_serial"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    built_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PublicationLease(Base):
    """Which signer may publish a zone now (decision 49): one row per zone, named by its
    origin (decision 65), renewed by its holder; ``token`` (the fencing token) grows by
    one at each change of holder, and primaries refuse pushes with a token older than one
    they have seen. Times are the database's clock in milliseconds since the epoch (one
    clock for every site)."""

    __tablename__ = "publication_lease"

    name: Mapped[str] = mapped_column(String(254), primary_key=True)  # the zone's origin
    holder: Mapped[str] = mapped_column(String(128))
    token: Mapped[int] = mapped_column(BigInteger)
    acquired_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)

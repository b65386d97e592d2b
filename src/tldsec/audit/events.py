"""The fixed catalogue of audit event types, their levels, and who can make an entry.

DPS 4.4.1 lists the events that are logged; every bullet maps to a ``Category`` and every
``EventType`` belongs to one. An entry names its type from this catalogue only, so an
auditor can ask "every key destruction in 2025" and trust that nothing hid under another
name. Adding an event type is a code change, reviewed like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """Entry level (DPS 4.4.1 "entry type and log level"), in increasing severity."""

    INFO = "info"
    NOTICE = "notice"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _LEVEL_ORDER.index(self)

    @classmethod
    def parse(cls, text: str) -> Level:
        try:
            return cls(text.lower())
        except ValueError:
            names = ", ".join(level.value for level in cls)
            raise ValueError(f"unknown level {text!r} (levels: {names})") from None


_LEVEL_ORDER = tuple(Level)


class Category(StrEnum):
    """The bullets of DPS 4.4.1, plus the operation of the signer and of the log itself."""

    KEY_LIFECYCLE = "key generation, backup, storage, recovery, archival and destruction"
    DEVICE = "cryptographic device life cycle management events"
    KEY_STATE = "key activation and deactivation, rollover events, algorithm changes"
    KEY_MATERIAL = "receipt and validation of signed public key material"
    SIGNING = "zone signing runs and distribution (DPS 6)"
    FACILITY = "facility visitor entry/exit"
    ACCESS = "successful and unsuccessful system access events"
    PERSONNEL = "security system actions performed by trusted personnel, software updates"
    ANOMALY = "system crashes, hardware failures and other anomalies"
    NETWORK = "networking equipment events (firewalls, IDS, routers, load-balancers)"
    AUDIT = "the audit log's own life cycle (DPS 4.4.3, 4.4.4, 7)"
    PUBLICATION = "the public repository and notices to registrars and the public (DPS 2)"


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What the catalogue says about one event type."""

    category: Category
    level: Level
    description: str


class EventType(StrEnum):
    """Every event type an audit entry may carry (DPS 4.4.1)."""

    # Key generation, backup, storage, recovery, archival and destruction
    KEY_GENERATED = "key.generated"
    KEY_GENERATION_FAILED = "key.generation_failed"
    KEY_BACKED_UP = "key.backed_up"
    KEY_STORED = "key.stored"
    KEY_RECOVERED = "key.recovered"
    KEY_ARCHIVED = "key.archived"
    KEY_DESTROYED = "key.destroyed"
    # Cryptographic device life cycle
    HSM_INITIALIZED = "hsm.initialized"
    HSM_COMMISSIONED = "hsm.commissioned"
    HSM_DECOMMISSIONED = "hsm.decommissioned"
    HSM_FIRMWARE_UPDATED = "hsm.firmware_updated"
    HSM_FAILURE = "hsm.failure"
    HSM_ACTIVATED = "hsm.activated"
    HSM_DEACTIVATED = "hsm.deactivated"
    HSM_REPLICA_PROVEN = "hsm.replica_proven"
    HSM_REPLICA_MISMATCH = "hsm.replica_mismatch"
    HSM_TOKEN_RECORD_RESTORED = "hsm.token_record_restored"
    # Key activation and deactivation, rollovers, algorithm changes
    KEY_PUBLISHED = "key.published"
    KEY_ACTIVATED = "key.activated"
    KEY_DEACTIVATED = "key.deactivated"
    KEY_REMOVED = "key.removed"
    KEY_ROLLOVER_STARTED = "key.rollover_started"
    KEY_ROLLOVER_STEP = "key.rollover_step"
    KEY_ROLLOVER_COMPLETED = "key.rollover_completed"
    KEY_EMERGENCY_ROLLOVER = "key.emergency_rollover"
    KEY_ALGORITHM_CHANGED = "key.algorithm_changed"
    KEY_GO_INSECURE_REQUESTED = "key.go_insecure_requested"
    KEY_GO_INSECURE_CANCELLED = "key.go_insecure_cancelled"
    KEY_ZONE_UNSIGNED = "key.zone_unsigned"
    KEY_TRANSFER_STARTED = "key.transfer_started"
    KEY_TRANSFER_PEER_DS_SEEN = "key.transfer_peer_ds_seen"
    KEY_TRANSFER_HANDED_OVER = "key.transfer_handed_over"
    KEY_TRANSFER_CANCELLED = "key.transfer_cancelled"
    KEY_TRANSFER_ENDED = "key.transfer_ended"
    KEY_OPERATION_REFUSED = "key.operation_refused"
    # Receipt and validation of signed public key material
    DS_RECEIVED = "ds.received"
    DS_ACCEPTED = "ds.accepted"
    DS_REJECTED = "ds.rejected"
    DS_REMOVED = "ds.removed"
    DS_CHANGED = "ds.changed"
    KEY_DS_SUBMITTED = "key.ds_submitted"
    KEY_DS_SEEN = "key.ds_seen"
    ZONE_VERIFIED = "zone.verified"
    ZONE_VERIFICATION_FAILED = "zone.verification_failed"
    # Signing runs and distribution
    SIGNER_RUN_COMPLETED = "signer.run_completed"
    SIGNER_RUN_FAILED = "signer.run_failed"
    CYCLE_COMPLETED = "cycle.completed"
    CYCLE_FAILED = "cycle.failed"
    ZONE_PUBLISHED = "zone.published"
    ZONE_PUBLISH_FAILED = "zone.publish_failed"
    ZONE_QUARANTINED = "zone.quarantined"
    ZONE_QUARANTINE_RELEASED = "zone.quarantine_released"
    ZONE_INTEGRITY_FAILED = "zone.integrity_failed"
    ZONE_PUSH_REFUSED = "zone.push_refused"
    CYCLE_HELD = "cycle.held"
    CYCLE_CHANGE_ACCEPTED = "cycle.change_accepted"
    # Facility
    FACILITY_ENTRY = "facility.entry"
    FACILITY_EXIT = "facility.exit"
    # Access
    ACCESS_LOGIN = "access.login"
    ACCESS_LOGIN_FAILED = "access.login_failed"
    ACCESS_LOGOUT = "access.logout"
    ACCESS_DENIED = "access.denied"
    # Trusted personnel
    PERSONNEL_ACTION = "personnel.action"
    SOFTWARE_UPDATED = "software.updated"
    CONFIG_CHANGED = "config.changed"
    CONFIG_APPROVED = "config.approved"
    POLICY_CHANGED = "policy.changed"
    ROLE_ASSIGNED = "role.assigned"
    ROLE_REVOKED = "role.revoked"
    REGISTRAR_CREATED = "registrar.created"
    REGISTRAR_CREDENTIALS_CHANGED = "registrar.credentials_changed"
    REGISTRAR_ACCREDITED = "registrar.accredited"
    REGISTRAR_ACCREDITATION_REVOKED = "registrar.accreditation_revoked"
    ZONE_ADDED = "zone.added"
    CEREMONY_STARTED = "ceremony.started"
    CEREMONY_APPROVED = "ceremony.approved"
    CEREMONY_COMPLETED = "ceremony.completed"
    CEREMONY_ABORTED = "ceremony.aborted"
    CEREMONY_FOUNDED = "ceremony.founded"
    CEREMONY_ROSTER_CHANGED = "ceremony.roster_changed"
    CEREMONY_RECORDED = "ceremony.recorded"
    CEREMONY_SIGNED = "ceremony.signed"
    # Crashes, failures, anomalies
    SYSTEM_CRASH = "system.crash"
    SYSTEM_STARTED = "system.started"
    SYSTEM_STOPPED = "system.stopped"
    SYSTEM_HARDWARE_FAILURE = "system.hardware_failure"
    SYSTEM_ANOMALY = "system.anomaly"
    CLOCK_BACKWARDS = "clock.backwards"
    CLOCK_UNSYNCHRONISED = "clock.unsynchronised"
    CLOCK_SYNCHRONISED = "clock.synchronised"
    CHANGE_NOT_COMMITTED = "registry.change_not_committed"
    REGISTRY_IMPORTED = "registry.imported"
    # Network equipment
    NETWORK_EVENT = "network.event"
    # The audit log itself
    AUDIT_INITIALIZED = "audit.initialized"
    AUDIT_KEY_GENERATED = "audit.key_generated"
    AUDIT_ARCHIVED = "audit.archived"
    AUDIT_PURGED = "audit.purged"
    AUDIT_ARCHIVE_DESTROYED = "audit.archive_destroyed"
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_VERIFICATION_FAILED = "audit.verification_failed"
    # Publication and notices (DPS 1.4.3, 2, 2.1, 2.2)
    REPOSITORY_PUBLISHED = "repository.published"
    NOTICE_QUEUED = "notice.queued"
    NOTICE_SENT = "notice.sent"
    NOTICE_FAILED = "notice.failed"

    @property
    def info(self) -> EventInfo:
        return CATALOGUE[self]

    @property
    def concerns_a_zone(self) -> bool:
        """Whether an entry of this type names a zone by default (decisions.md 58): key,
        DS, signing and publication events do; the HSM, people, access, the facility,
        the clock and the log itself are the installation's."""
        if self in _INSTALLATION_EVENTS:
            return False
        return self in _ZONE_EVENTS or self.info.category in ZONE_CATEGORIES

    @classmethod
    def parse(cls, text: str) -> EventType:
        try:
            return cls(text)
        except ValueError:
            raise ValueError(
                f"unknown audit event type {text!r} (see 'tldsec audit events')"
            ) from None


_C, _L = Category, Level

CATALOGUE: dict[EventType, EventInfo] = {
    EventType.KEY_GENERATED: EventInfo(_C.KEY_LIFECYCLE, _L.NOTICE, "a key pair was generated"),
    EventType.KEY_GENERATION_FAILED: EventInfo(_C.KEY_LIFECYCLE, _L.ERROR, "key generation failed"),
    EventType.KEY_BACKED_UP: EventInfo(
        _C.KEY_LIFECYCLE, _L.NOTICE, "a key was exported wrapped under the SMK (DPS 5.2.4)"
    ),
    EventType.KEY_STORED: EventInfo(
        _C.KEY_LIFECYCLE, _L.NOTICE, "a key was stored in a cryptographic module (DPS 5.2.5)"
    ),
    EventType.KEY_RECOVERED: EventInfo(
        _C.KEY_LIFECYCLE, _L.NOTICE, "a key was restored from a backup (DPS 5.2.4, 5.2.7)"
    ),
    EventType.KEY_ARCHIVED: EventInfo(
        _C.KEY_LIFECYCLE, _L.NOTICE, "a key was archived (DPS 5.2.6)"
    ),
    EventType.KEY_DESTROYED: EventInfo(
        _C.KEY_LIFECYCLE, _L.NOTICE, "a key was destroyed (DPS 5.2.10)"
    ),
    EventType.HSM_INITIALIZED: EventInfo(_C.DEVICE, _L.NOTICE, "an HSM token was initialised"),
    EventType.HSM_COMMISSIONED: EventInfo(_C.DEVICE, _L.NOTICE, "an HSM was put into service"),
    EventType.HSM_DECOMMISSIONED: EventInfo(
        _C.DEVICE, _L.NOTICE, "an HSM was taken out of service"
    ),
    EventType.HSM_FIRMWARE_UPDATED: EventInfo(
        _C.DEVICE, _L.NOTICE, "HSM firmware or module was updated"
    ),
    EventType.HSM_FAILURE: EventInfo(_C.DEVICE, _L.ERROR, "the HSM failed or was unreachable"),
    EventType.HSM_ACTIVATED: EventInfo(
        _C.KEY_STATE, _L.NOTICE, "the HSM was put on-line: its keys can sign (DPS 5.2.8)"
    ),
    EventType.HSM_DEACTIVATED: EventInfo(
        _C.KEY_STATE, _L.NOTICE, "the HSM was taken off-line: logged out (DPS 5.2.9)"
    ),
    EventType.HSM_REPLICA_PROVEN: EventInfo(
        _C.DEVICE, _L.INFO, "every HSM proved it holds every key it should"
    ),
    EventType.HSM_REPLICA_MISMATCH: EventInfo(
        _C.DEVICE, _L.ERROR, "an HSM lacks a key of the zone or holds a different one"
    ),
    EventType.HSM_TOKEN_RECORD_RESTORED: EventInfo(
        _C.DEVICE,
        _L.WARNING,
        "a SoftHSM2 token record emptied by a kill was restored from its good copy",
    ),
    EventType.KEY_PUBLISHED: EventInfo(_C.KEY_STATE, _L.INFO, "a DNSKEY was published in the zone"),
    EventType.KEY_ACTIVATED: EventInfo(_C.KEY_STATE, _L.NOTICE, "a key started signing"),
    EventType.KEY_DEACTIVATED: EventInfo(_C.KEY_STATE, _L.NOTICE, "a key stopped signing"),
    EventType.KEY_REMOVED: EventInfo(_C.KEY_STATE, _L.INFO, "a DNSKEY was removed from the zone"),
    EventType.KEY_ROLLOVER_STARTED: EventInfo(_C.KEY_STATE, _L.NOTICE, "a key rollover began"),
    EventType.KEY_ROLLOVER_STEP: EventInfo(
        _C.KEY_STATE, _L.INFO, "a key rollover moved to its next step"
    ),
    EventType.KEY_ROLLOVER_COMPLETED: EventInfo(_C.KEY_STATE, _L.NOTICE, "a key rollover finished"),
    EventType.KEY_EMERGENCY_ROLLOVER: EventInfo(
        _C.KEY_STATE, _L.CRITICAL, "an emergency rollover began (DPS 4.5.3)"
    ),
    EventType.KEY_ALGORITHM_CHANGED: EventInfo(
        _C.KEY_STATE, _L.NOTICE, "the signing algorithm changed"
    ),
    EventType.KEY_GO_INSECURE_REQUESTED: EventInfo(
        _C.KEY_STATE, _L.WARNING, "the zone is going insecure: every DS withdrawn (DPS 4.6)"
    ),
    EventType.KEY_GO_INSECURE_CANCELLED: EventInfo(
        _C.KEY_STATE, _L.NOTICE, "going insecure was cancelled; a new KSK brings a DS back"
    ),
    EventType.KEY_ZONE_UNSIGNED: EventInfo(
        _C.KEY_STATE, _L.WARNING, "the zone is published unsigned: every key retired (DPS 4.6)"
    ),
    EventType.KEY_TRANSFER_STARTED: EventInfo(
        _C.KEY_STATE, _L.WARNING, "the zone is being handed to another operator (DPS 4.6)"
    ),
    EventType.KEY_TRANSFER_PEER_DS_SEEN: EventInfo(
        _C.KEY_STATE, _L.NOTICE, "the gaining operator's DS is seen at the parent"
    ),
    EventType.KEY_TRANSFER_HANDED_OVER: EventInfo(
        _C.KEY_STATE, _L.WARNING, "the zone was handed over: the delegation moves"
    ),
    EventType.KEY_TRANSFER_CANCELLED: EventInfo(
        _C.KEY_STATE, _L.NOTICE, "the handover to another operator was cancelled"
    ),
    EventType.KEY_TRANSFER_ENDED: EventInfo(
        _C.KEY_STATE, _L.WARNING, "our role ended: every key retired, nothing is signed"
    ),
    EventType.KEY_OPERATION_REFUSED: EventInfo(
        _C.KEY_STATE, _L.WARNING, "the key lifecycle rules refused an operation"
    ),
    EventType.DS_RECEIVED: EventInfo(
        _C.KEY_MATERIAL, _L.INFO, "a registrar submitted DS data (DPS 3.3)"
    ),
    EventType.DS_ACCEPTED: EventInfo(
        _C.KEY_MATERIAL, _L.INFO, "submitted DS data passed validation and was stored"
    ),
    EventType.DS_REJECTED: EventInfo(
        _C.KEY_MATERIAL, _L.NOTICE, "submitted DS data failed validation"
    ),
    EventType.DS_REMOVED: EventInfo(_C.KEY_MATERIAL, _L.INFO, "DS data was removed (DPS 3.5)"),
    EventType.DS_CHANGED: EventInfo(
        _C.KEY_MATERIAL, _L.INFO, "a domain's DS set changed: records added or removed"
    ),
    EventType.KEY_DS_SUBMITTED: EventInfo(
        _C.KEY_MATERIAL, _L.NOTICE, "a KSK's DS was submitted to the parent"
    ),
    EventType.KEY_DS_SEEN: EventInfo(
        _C.KEY_MATERIAL, _L.NOTICE, "a KSK's DS was seen published by the parent"
    ),
    EventType.ZONE_VERIFIED: EventInfo(
        _C.KEY_MATERIAL, _L.INFO, "a signed zone passed verification (DPS 6.6)"
    ),
    EventType.ZONE_VERIFICATION_FAILED: EventInfo(
        _C.KEY_MATERIAL, _L.ERROR, "a signed zone failed verification (DPS 6.6)"
    ),
    EventType.SIGNER_RUN_COMPLETED: EventInfo(_C.SIGNING, _L.INFO, "a signing run finished"),
    EventType.SIGNER_RUN_FAILED: EventInfo(_C.SIGNING, _L.ERROR, "a signing run failed"),
    EventType.CYCLE_COMPLETED: EventInfo(_C.SIGNING, _L.INFO, "a zone cycle finished"),
    EventType.CYCLE_FAILED: EventInfo(_C.SIGNING, _L.ERROR, "a zone cycle failed"),
    EventType.ZONE_PUBLISHED: EventInfo(_C.SIGNING, _L.INFO, "a signed zone was distributed"),
    EventType.ZONE_PUBLISH_FAILED: EventInfo(
        _C.SIGNING, _L.ERROR, "distributing a signed zone failed"
    ),
    EventType.ZONE_QUARANTINED: EventInfo(
        _C.SIGNING,
        _L.WARNING,
        "a registry object broke a rule and was withheld from the zone (DPS 3.5.2)",
    ),
    EventType.ZONE_QUARANTINE_RELEASED: EventInfo(
        _C.SIGNING, _L.NOTICE, "a withheld registry object is published again"
    ),
    EventType.ZONE_INTEGRITY_FAILED: EventInfo(
        _C.SIGNING,
        _L.ERROR,
        "a zone file differs from what was verified or built (DPS 6.6): not reused",
    ),
    EventType.ZONE_PUSH_REFUSED: EventInfo(
        _C.SIGNING,
        _L.WARNING,
        "the primary refused a pushed zone or a connection to its push listener (DPS 5.6)",
    ),
    EventType.CYCLE_HELD: EventInfo(
        _C.SIGNING, _L.ERROR, "a zone losing delegations or DS, or changing size, was held"
    ),
    EventType.CYCLE_CHANGE_ACCEPTED: EventInfo(
        _C.SIGNING, _L.NOTICE, "an operator accepted a held zone change for publication"
    ),
    EventType.FACILITY_ENTRY: EventInfo(_C.FACILITY, _L.INFO, "a visitor entered the facility"),
    EventType.FACILITY_EXIT: EventInfo(_C.FACILITY, _L.INFO, "a visitor left the facility"),
    EventType.ACCESS_LOGIN: EventInfo(_C.ACCESS, _L.INFO, "a login succeeded"),
    EventType.ACCESS_LOGIN_FAILED: EventInfo(_C.ACCESS, _L.WARNING, "a login failed"),
    EventType.ACCESS_LOGOUT: EventInfo(_C.ACCESS, _L.INFO, "a session ended"),
    EventType.ACCESS_DENIED: EventInfo(
        _C.ACCESS, _L.WARNING, "an authenticated party was refused an operation"
    ),
    EventType.PERSONNEL_ACTION: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a trusted person performed a security action"
    ),
    EventType.SOFTWARE_UPDATED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "software was updated (DPS 5.8)"
    ),
    EventType.CONFIG_CHANGED: EventInfo(_C.PERSONNEL, _L.NOTICE, "the configuration changed"),
    EventType.CONFIG_APPROVED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "the signer's configuration and policy were approved (DPS 4.2.2)"
    ),
    EventType.POLICY_CHANGED: EventInfo(_C.PERSONNEL, _L.NOTICE, "the DNSSEC policy changed"),
    EventType.ROLE_ASSIGNED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a trusted role was assigned (DPS 4.2.1)"
    ),
    EventType.ROLE_REVOKED: EventInfo(_C.PERSONNEL, _L.NOTICE, "a trusted role was revoked"),
    EventType.REGISTRAR_CREATED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a registrar account was created"
    ),
    EventType.REGISTRAR_CREDENTIALS_CHANGED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a registrar's password or client certificate changed"
    ),
    EventType.ZONE_ADDED: EventInfo(
        _C.PERSONNEL,
        _L.NOTICE,
        "a zone was added to the installation (tldsec zone add, decision 68); names the zone",
    ),
    EventType.REGISTRAR_ACCREDITED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a registrar was accredited for a zone (decision 57)"
    ),
    EventType.REGISTRAR_ACCREDITATION_REVOKED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a registrar's accreditation for a zone was revoked"
    ),
    EventType.CEREMONY_STARTED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a key ceremony began (DPS 4.2.2)"
    ),
    EventType.CEREMONY_APPROVED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a ceremony participant approved"
    ),
    EventType.CEREMONY_COMPLETED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a key ceremony reached its quorum and finished"
    ),
    EventType.CEREMONY_ABORTED: EventInfo(_C.PERSONNEL, _L.WARNING, "a key ceremony was aborted"),
    EventType.CEREMONY_FOUNDED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "the founding ceremony made roster version 1 (DPS 4.2.1)"
    ),
    EventType.CEREMONY_ROSTER_CHANGED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a quorum adopted a new roster version (DPS 4.2.1)"
    ),
    EventType.CEREMONY_RECORDED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a ceremony's outcome was written down for signing (DPS 5.1.1)"
    ),
    EventType.CEREMONY_SIGNED: EventInfo(
        _C.PERSONNEL, _L.NOTICE, "a participant signed a ceremony's record (DPS 5.1.1)"
    ),
    EventType.SYSTEM_CRASH: EventInfo(_C.ANOMALY, _L.CRITICAL, "a component crashed"),
    EventType.SYSTEM_STARTED: EventInfo(
        _C.ANOMALY, _L.NOTICE, "a component started: software version, config and policy hashes"
    ),
    EventType.SYSTEM_STOPPED: EventInfo(_C.ANOMALY, _L.NOTICE, "a component stopped cleanly"),
    EventType.SYSTEM_HARDWARE_FAILURE: EventInfo(
        _C.ANOMALY, _L.ERROR, "a hardware failure was detected"
    ),
    EventType.SYSTEM_ANOMALY: EventInfo(_C.ANOMALY, _L.WARNING, "an anomaly was detected"),
    EventType.CLOCK_BACKWARDS: EventInfo(
        _C.ANOMALY, _L.WARNING, "the clock is behind the previous entry's time"
    ),
    EventType.CLOCK_UNSYNCHRONISED: EventInfo(
        _C.ANOMALY, _L.WARNING, "the kernel reports the clock is not synchronised (DPS 5.7)"
    ),
    EventType.CLOCK_SYNCHRONISED: EventInfo(
        _C.ANOMALY, _L.NOTICE, "the kernel reports the clock is synchronised again"
    ),
    EventType.CHANGE_NOT_COMMITTED: EventInfo(
        _C.ANOMALY,
        _L.WARNING,
        "a registry change was audited, then its database transaction failed: it did not happen",
    ),
    EventType.REGISTRY_IMPORTED: EventInfo(
        _C.KEY_MATERIAL,
        _L.NOTICE,
        "objects (and their DS) were imported in bulk from a deposit file (issue 18)",
    ),
    EventType.NETWORK_EVENT: EventInfo(
        _C.NETWORK, _L.INFO, "a network equipment event was recorded"
    ),
    EventType.AUDIT_INITIALIZED: EventInfo(_C.AUDIT, _L.NOTICE, "the audit log was created"),
    EventType.AUDIT_KEY_GENERATED: EventInfo(
        _C.AUDIT, _L.NOTICE, "an audit checkpoint key was generated"
    ),
    EventType.AUDIT_ARCHIVED: EventInfo(
        _C.AUDIT, _L.NOTICE, "entries were written to a signed archive file (DPS 4.4.3)"
    ),
    EventType.AUDIT_PURGED: EventInfo(
        _C.AUDIT, _L.NOTICE, "archived entries were removed from the on-line log"
    ),
    EventType.AUDIT_ARCHIVE_DESTROYED: EventInfo(
        _C.AUDIT, _L.NOTICE, "an archive file past its retention was deleted"
    ),
    EventType.AUDIT_EXPORTED: EventInfo(
        _C.AUDIT, _L.INFO, "entries were exported or shown (DPS 4.4.4)"
    ),
    EventType.AUDIT_VERIFIED: EventInfo(_C.AUDIT, _L.INFO, "the audit log verified intact"),
    EventType.AUDIT_VERIFICATION_FAILED: EventInfo(
        _C.AUDIT, _L.CRITICAL, "the audit log failed verification: possible tampering"
    ),
    EventType.REPOSITORY_PUBLISHED: EventInfo(
        _C.PUBLICATION, _L.INFO, "the public DNSSEC repository was written (DPS 2.1, 2.2)"
    ),
    EventType.NOTICE_QUEUED: EventInfo(
        _C.PUBLICATION, _L.INFO, "a notice was put in the e-mail outbox (DPS 1.4.3, 2)"
    ),
    EventType.NOTICE_SENT: EventInfo(
        _C.PUBLICATION, _L.NOTICE, "a notice was accepted by the SMTP server, with its Message-ID"
    ),
    EventType.NOTICE_FAILED: EventInfo(
        _C.PUBLICATION, _L.ERROR, "a notice could not be sent after its last attempt"
    ),
}


# Issue 19, decisions.md 58: the categories whose events concern one zone, and the
# exceptions either way. An entry of such an event names the home's zone unless its
# writer names another; any entry may name a zone explicitly.
ZONE_CATEGORIES = frozenset(
    {
        Category.KEY_LIFECYCLE,
        Category.KEY_STATE,
        Category.KEY_MATERIAL,
        Category.SIGNING,
        Category.PUBLICATION,
    }
)
# The HSM put on-line or off-line: every zone's keys at once.
_INSTALLATION_EVENTS = frozenset({EventType.HSM_ACTIVATED, EventType.HSM_DEACTIVATED})
# A registry change that did not commit: a change to one zone's registry.
_ZONE_EVENTS = frozenset({EventType.CHANGE_NOT_COMMITTED})


class ActorKind(StrEnum):
    """Who makes an entry (DPS 4.4.1 "identity of the entity making the journal entry")."""

    PERSON = "person"
    REGISTRAR = "registrar"
    COMPONENT = "component"


# "/" for a registrar's person in the console: ``registrar:alpha/alice``.
_ACTOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+/-]{0,127}")


@dataclass(frozen=True, slots=True)
class Actor:
    """``person:alice``, ``registrar:reg-1`` (``registrar:reg-1/alice``: one of its people,
    in the registrar console) or ``component:signer``."""

    kind: ActorKind
    name: str

    def __post_init__(self) -> None:
        if not _ACTOR_NAME.fullmatch(self.name):
            raise ValueError(
                f"actor name {self.name!r} must be 1-128 of letters, digits and ._@+/-"
            )

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Actor:
        kind, sep, name = text.partition(":")
        if not sep:
            raise ValueError(f"actor {text!r} must be person:NAME, registrar:ID or component:NAME")
        try:
            actor_kind = ActorKind(kind)
        except ValueError:
            raise ValueError(f"actor kind {kind!r} is not person, registrar or component") from None
        return cls(actor_kind, name)

    @classmethod
    def person(cls, name: str) -> Actor:
        return cls(ActorKind.PERSON, name)

    @classmethod
    def registrar(cls, name: str) -> Actor:
        return cls(ActorKind.REGISTRAR, name)

    @classmethod
    def component(cls, name: str) -> Actor:
        return cls(ActorKind.COMPONENT, name)

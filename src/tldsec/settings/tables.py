"""Every table of ``tldsec.toml``, as the dataclass ``settings.strict`` checks it against.

One field is one key: its type, its default and its range. To add a key, add one line
to its table here (and to docs/config.md); the module that uses the table reads the new
field from ``Settings.config``. A key missing here is refused as a typo. To add a table,
add its dataclass and one field of ``ConfigFile``.

The values are as written (paths relative to the home, names as typed); ``Settings`` and
the modules that own a table turn them into paths, names and durations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tldsec.settings.strict import setting

# -- the zone, the key store, the policy, the databases ------------------------------


@dataclass(frozen=True, slots=True)
class ZoneKeys:
    """The keys every zone's table has: the apex the builder writes, the names no
    registrar may register, the glue rule (``[zone]`` and each ``[zones.NAME]``)."""

    apex_ns: tuple[str, ...] | None = setting(None, nonempty=True)  # default: a/b.nic.ORIGIN
    apex_glue: dict[str, tuple[str, ...]] | None = None  # name server -> addresses
    soa_mname: str | None = None  # default: the first apex_ns
    soa_rname: str | None = None  # default: hostmaster.ORIGIN
    soa_refresh: int = setting(1800, low=1, high=2**31 - 1)
    soa_retry: int = setting(900, low=1, high=2**31 - 1)
    soa_expire: int = setting(1209600, low=1, high=2**31 - 1)
    # Labels or names directly below the TLD that no registrar may register, besides
    # the policy's [registry] reserved_labels and the apex name servers' domains.
    reserved_names: tuple[str, ...] = ()
    documentation_glue: bool = True  # glue in RFC 5737/3849/9637 blocks accepted


@dataclass(frozen=True, slots=True)
class ZoneTable(ZoneKeys):
    """``[zone]``: the one TLD of a one-zone home, and where zones are written (read as
    the home's only ``[zones.NAME]``, decision 57)."""

    origin: str = field(kw_only=True)
    zones_dir: str = setting("zones", nonempty=True)


@dataclass(frozen=True, slots=True)
class ZonesTable(ZoneKeys):
    """``[zones.NAME]``: one TLD of the home (decision 57); NAME is its origin without
    the final dot, quoted where it has one (``[zones."co.example"]``)."""

    policy: str = setting("default", nonempty=True)  # a name in [policies]
    # a scheduled KSK roll keeps this many days from another zone's (decision 57)
    ksk_stagger_days: int = setting(7, low=0, high=3650)


@dataclass(frozen=True, slots=True)
class ReplicaTable:
    """``[[keystore.replica]]``: another HSM that must hold every key, e.g. the second
    site's (replica proof, docs/hsm.md)."""

    name: str
    token_label: str
    module: str | None = None  # default: SoftHSM2 where Debian puts it
    pin_source: str | None = None  # default: the [keystore] pin_source
    softhsm2_conf: str | None = None


@dataclass(frozen=True, slots=True)
class KeystoreTable:
    """``[keystore]``: which key store backend, and how to reach it (DPS 5.2)."""

    backend: str = setting("pkcs11", choices=("pkcs11", "file", "memory"))
    module: str | None = None  # default: SoftHSM2 where Debian puts it
    token_label: str = "tldsec"
    # "security-officer" (the dps policy), file:PATH, env:NAME, credential:NAME (systemd)
    pin_source: str = "file:pin"
    softhsm2_conf: str | None = None
    directory: str = "keys"  # the file backend's key directory
    replica: tuple[ReplicaTable, ...] = ()  # [[keystore.replica]]


@dataclass(frozen=True, slots=True)
class BackupTable:
    """``[backup]``: the automatic archive of new keys under the SMK (DPS 5.2.4).

    With ``smk`` (the SMK's check value) set, a cycle that generates keys under a policy
    with ``keystore.backup_before_use`` writes them, wrapped, to a new archive in
    ``directory`` and checks it, so that they may enter the zone in the same cycle."""

    smk: str = ""  # empty: no automatic archive; the planner waits for 'tldsec backup keys'
    directory: str = setting("backups", nonempty=True)  # relative to the home


@dataclass(frozen=True, slots=True)
class PolicyTable:
    """``[policy]``: the policy file; empty: the built-in DPS policy. Read as the policy
    named ``default`` of ``[policies]`` (decision 57)."""

    file: str = ""


@dataclass(frozen=True, slots=True)
class DatabaseTable:
    """``[database]``: SQLAlchemy URLs; each default is a SQLite file in the home."""

    signer_url: str | None = None
    registry_url: str | None = None
    audit_url: str | None = None
    # PostgreSQL: the role that owns the databases; 'tldsec db upgrade' and 'tldsec init
    # --existing' migrate as it and grant the URLs' (application) role its tables.
    owner_role: str | None = setting(None, nonempty=True)


# -- the servers and the gate ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EppTable:
    """``[epp]``: where the EPP server listens, its TLS files and limits (RFC 5734)."""

    listen: str = "127.0.0.1:7000"
    tls_cert: str = "epp-cert.pem"
    tls_key: str = "epp-key.pem"
    client_ca: str | None = None
    require_client_cert: bool = False
    idle_timeout_seconds: int = setting(600, low=1)
    sessions_per_registrar: int = setting(8, low=1)
    max_frame_bytes: int = setting(65536, low=1)
    server_id: str = "tldsec"
    login_timeout_seconds: int = setting(30, low=1)  # to complete TLS and log in
    unauthenticated_per_address: int = setting(16, low=1)  # connections not logged in
    unauthenticated_total: int = setting(512, low=1)
    frame_min_bytes_per_second: int = setting(1024, low=1)  # a frame in progress
    # Poll messages (decision 51): each DS add's advisory check, each change once live.
    poll_advisory: bool = True
    poll_live: bool = True


@dataclass(frozen=True, slots=True)
class ConsoleTable:
    """``[console]``: the registrar console (HTTPS; docs/console.md)."""

    listen: str = "127.0.0.1:8443"
    tls_cert: str | None = None  # default: [epp] tls_cert
    tls_key: str | None = None  # default: [epp] tls_key
    totp_key: str = setting("console-totp.key", nonempty=True)  # seals the TOTP secrets
    idle_timeout_minutes: int = setting(15, low=1, high=24 * 60)
    page_size: int = setting(50, low=1, high=1000)  # domains per page
    advisory_timeout_seconds: float = setting(2.0, low=0.1, high=30)  # per DNS query


@dataclass(frozen=True, slots=True)
class VerifyTable:
    """``[verify]``: the verification gate's options (DPS 6.6)."""

    external: tuple[str, ...] = ("ldns-verify-zone", "dnssec-verify", "kzonecheck")
    external_timeout_seconds: int = setting(1800, low=1)
    second_sample: int | str = setting(2000, low=0, choices=("all",))
    horizon_hours: int | None = setting(None, low=1)
    workers: int = setting(0, low=0)
    incremental: bool = True
    full_every_hours: int = setting(24, low=1)
    full_every_cycles: int = setting(96, low=0)


@dataclass(frozen=True, slots=True)
class ServeTable:
    """``[serve]``: ``tldsec serve``'s health endpoint and audit watch."""

    health_listen: str = "127.0.0.1:8053"
    audit_watch_seconds: float = setting(10.0, above=0)
    # The signer role alone (no HTTP): metrics for node_exporter's textfile collector;
    # empty: HOME/run/metrics/tldsec.prom
    metrics_textfile: str = ""


@dataclass(frozen=True, slots=True)
class CycleTable:
    """``[cycle]``: signing processes and when ``tldsec serve`` starts a cycle."""

    workers: int = setting(0, low=0)  # 0: one per core
    change_driven: bool = True
    check_seconds: float = setting(2.0, above=0)
    timeout_seconds: float = setting(2400.0, above=0)  # DPS 3.5.2
    # Sharing the cores between the zones' cycles in ``tldsec serve`` (decision 67):
    # children at once (0: one per core, at least 2), and full signs among them.
    concurrent: int = setting(0, low=0)
    full_signs: int = setting(1, low=1)
    # Collapse guards (``cycle.guard``, DPS 3.5.2 and 6.6): shares of the last published
    # zone a cycle may lose (or change, for the size) before it is held for an operator.
    max_delegation_loss: float = setting(0.01, low=0, high=1)
    max_ds_loss: float = setting(0.01, low=0, high=1)
    max_size_change: float = setting(0.10, low=0, high=1)
    guard_min_count: int = setting(10, low=0)  # changes this small are never held...
    guard_min_bytes: int = setting(100_000, low=0)  # ...but a loss down to none always is


@dataclass(frozen=True, slots=True)
class KeysTable:
    """``[keys]``: parent name servers and the key timing's delays (seconds)."""

    parent_servers: tuple[str, ...] = ()
    # The parent zone's DS or DNSKEY records: its answers are validated from them (DPS 2.2).
    parent_trust_anchor: str = setting("/usr/share/dns/root.key", nonempty=True)
    # serve asks them this often while a DS waits at a parent gate (0: never)
    parent_check_seconds: int = setting(3600, low=0, high=2**31)
    propagation_delay_seconds: int | None = setting(None, low=0, high=2**31)
    parent_propagation_delay_seconds: int | None = setting(None, low=0, high=2**31)
    parent_ds_ttl_seconds: int | None = setting(None, low=0, high=2**31)
    safety_margin_seconds: int | None = setting(None, low=0, high=2**31)


@dataclass(frozen=True, slots=True)
class AuditTable:
    """``[audit]``: the audit key, the archive and checkpoints (DPS 4.4)."""

    key_backend: str = setting("auto", choices=("auto", "file", "pkcs11"))
    key_file: str = setting("audit-key.pem", nonempty=True)
    key_label: str = setting("tldsec-audit", nonempty=True)
    archive_dir: str = setting("audit-archive", nonempty=True)
    checkpoint_every: int = setting(1000, low=1)
    checkpoint_interval_seconds: int = setting(3600, low=1)
    clock_tolerance_ms: int = setting(1000, low=0)
    # Copies of every checkpoint outside the database (audit/anchors.py, issue 16).
    anchor_dir: str = setting("audit-anchors", nonempty=True)
    syslog: bool = False
    witness_url: str = ""  # a database URL, or an http(s):// endpoint
    maintenance_url: str = ""  # PostgreSQL: a connection as the maintenance role
    archive_interval_days: int = setting(30, low=1)  # DPS 4.4.3: the serve schedule


@dataclass(frozen=True, slots=True)
class CeremonyTable:
    """``[ceremony]``: operations that need a ceremony (a list, or "all"; DPS 4.2.2), the
    quorum of each operation class, and the founding roster's hash (docs/ceremonies.md)."""

    required: tuple[str, ...] | str = ()
    valid_minutes: int = setting(60, low=1, high=24 * 60)
    roster_root: str | None = None  # SHA-256 of roster version 1, as 'ceremony found' printed
    quorum: dict[str, tuple[str, ...]] | None = None  # class = ["sa", "so|wi"]; default DPS


# -- distribution: the hidden primary -------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecondaryTable:
    """``[[distribute.secondaries]]``: one name server that transfers the zone."""

    name: str | None = None
    allow: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    tsig_key: str | None = None
    zones: tuple[str, ...] | None = None  # the zones it serves (origins); None: all


@dataclass(frozen=True, slots=True)
class TsigKeyTable:
    """``[distribute.tsig_keys.NAME]``: a TSIG secret (RFC 8945), inline or in a file."""

    algorithm: str = "hmac-sha256"
    secret: str | None = None
    secret_file: str | None = None


@dataclass(frozen=True, slots=True)
class DistributeTable:
    """``[distribute]``: the hidden primary, its secondaries and TSIG keys."""

    listen: str = "127.0.0.1:5300"
    store_dir: str = setting("zones/{zone}/dist", nonempty=True)  # each zone its own
    keep: int = setting(10, low=2)
    poll_seconds: float = setting(1.0, low=0.05)
    notify_timeout_seconds: float = setting(2.0, low=0.1)
    notify_attempts: int = setting(5, low=1)
    notify_retry_seconds: float = setting(2.0, low=0)
    secondaries: tuple[SecondaryTable, ...] | None = None  # None: loopback, no TSIG
    tsig_keys: dict[str, TsigKeyTable] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PushPeerTable:
    """``[[push.primaries]]`` (where a signer pushes) or ``[[push.signers]]`` (whom a
    primary accepts): the peer's certificate, pinned by its file and its fingerprint."""

    name: str = setting(nonempty=True)
    cert: str = setting(nonempty=True)  # the peer's PEM certificate, relative to the home
    sha256: str = setting(nonempty=True)  # its fingerprint ('tldsec push-cert show')
    address: str | None = None  # primaries only: HOST:PORT of its push listener


@dataclass(frozen=True, slots=True)
class PushTable:
    """``[push]``: the signer pushes each verified zone to its primaries over mutually
    authenticated TLS with pinned certificates (decision 49, DPS 5.6)."""

    cert: str = "push/push.pem"  # this side's certificate and key ('tldsec push-cert new')
    key: str = "push/push.key"
    listen: str = "127.0.0.1:5301"  # the primary role: where signers push
    timeout_seconds: float = setting(60.0, above=0)  # per read or write of a push
    retry_seconds: float = setting(2.0, above=0)  # first retry; doubles up to a minute
    max_zone_bytes: int = setting(8 << 30, low=1)
    # the primary role's listener: connections at once, in all and from one address;
    # the time from a connection to its header (TLS handshake included)
    max_connections: int = setting(16, low=1)
    max_connections_per_address: int = setting(4, low=1)
    handshake_seconds: float = setting(10.0, above=0)
    primaries: tuple[PushPeerTable, ...] = ()  # the signer: where it pushes
    signers: tuple[PushPeerTable, ...] = ()  # the primary: whom it accepts


@dataclass(frozen=True, slots=True)
class LeaseTable:
    """``[lease]``: only one signer publishes at a time (decision 49)."""

    name: str = ""  # this signer, unique per site; default: HOSTNAME:HOME
    ttl_seconds: float = setting(30.0, above=0)
    renew_seconds: float = setting(10.0, above=0)
    margin_seconds: float = setting(10.0, above=0)  # stop publishing this long before expiry


# -- telling the public and the registrars (DPS 1.4.3, 2) -----------------------------


@dataclass(frozen=True, slots=True)
class DpsVersionTable:
    """``[[publish.dps]]``: one version of the DNSSEC Policy Statement (DPS 1.4.3)."""

    version: str = setting(nonempty=True)
    file: str = setting(nonempty=True)  # its plain text, relative to the home
    effective: str = setting(nonempty=True)  # YYYY-MM-DD: in force from this day (UTC)
    summary: str = ""  # what changed, for the history and the notice
    significant: bool = True  # DPS 1.4.3: notice is given of significant changes only


@dataclass(frozen=True, slots=True)
class PublishTable:
    """``[publish]``: the public repository (DPS 2.1, 2.2) ``tldsec publish`` writes."""

    directory: str = setting("public", nonempty=True)  # relative to the home; -o overrides
    title: str = ""  # default: "ORIGIN DNSSEC repository"
    base_url: str = ""  # where the site is served (DPS 2.1), shown on every page
    calendar_days: int = setting(365, low=1, high=3660)
    digest_types: tuple[int, ...] = setting((2,), nonempty=True)  # DS digests shown
    dps: tuple[DpsVersionTable, ...] = ()  # [[publish.dps]]: the DPS and its history


@dataclass(frozen=True, slots=True)
class NotifyTable:
    """``[notify]``: notices by e-mail (DPS 1.4.3, 2) and the SMTP server that sends them."""

    smtp_host: str = ""  # empty: notices are queued in the outbox, none is sent
    smtp_port: int = setting(587, low=1, high=65535)
    security: str = setting("starttls", choices=("starttls", "tls", "none"))
    ca_file: str | None = None  # CAs for the server's certificate; default: the system's
    username: str = ""  # empty: no AUTH
    password_source: str = ""  # file:PATH, env:NAME or credential:NAME
    sender: str = ""  # From:; default: dnssec@ORIGIN
    operator: tuple[str, ...] = ()  # the operator's addresses
    list_address: tuple[str, ...] = ()  # the public list (DPS 2: dns-operations)
    # notice kind -> who gets it: "registrars", "list", "operator" (docs/config.md)
    recipients: dict[str, tuple[str, ...]] | None = None
    ds_live_registrars: tuple[str, ...] = ()  # client ids opted in to "DS live" notices
    rollover_notice_days: int = setting(7, low=0, high=365)
    dps_notice_days: int = setting(30, low=0, high=365)
    timeout_seconds: float = setting(30.0, above=0)
    retry_seconds: float = setting(60.0, above=0)  # first retry; doubles each time
    retry_max_seconds: float = setting(3600.0, above=0)
    max_attempts: int = setting(48, low=1)
    spool_dir: str = setting("notify", nonempty=True)  # the outbox, relative to the home
    every_seconds: float = setting(60.0, above=0)  # serve's publish-and-notify pass


# -- the whole file -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """``tldsec.toml``: one field per table; a table it does not name is refused."""

    zone: ZoneTable | None = None  # one zone, as before decision 57; or [zones]
    zones: dict[str, ZonesTable] = field(default_factory=dict)  # [zones.NAME]
    policies: dict[str, str] = field(default_factory=dict)  # [policies] NAME = file
    keystore: KeystoreTable = KeystoreTable()
    backup: BackupTable = BackupTable()
    policy: PolicyTable = PolicyTable()
    database: DatabaseTable = DatabaseTable()
    epp: EppTable = EppTable()
    console: ConsoleTable = ConsoleTable()
    verify: VerifyTable = VerifyTable()
    serve: ServeTable = ServeTable()
    cycle: CycleTable = CycleTable()
    keys: KeysTable = KeysTable()
    audit: AuditTable = AuditTable()
    ceremony: CeremonyTable = CeremonyTable()
    distribute: DistributeTable = DistributeTable()
    push: PushTable = PushTable()
    lease: LeaseTable = LeaseTable()
    publish: PublishTable = PublishTable()
    notify: NotifyTable = NotifyTable()

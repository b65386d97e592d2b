"""``tldsec ceremony found``: the founding ceremony, which makes roster version 1, the
first keys of every zone of the home, each by its own policy, and the SMK (DPS 5.1.1;
decision 82). Registered with the other ceremony commands in ``cli/ceremony.py``.

Nothing is left half-founded. What can be checked is checked before the ceremony is
used: the roster draft, every zone's registry and signer rows, and the key store's
login. The keys are made before the founding is recorded: a zone whose keys cannot be
made stops the run with the roster not founded and its draft kept, and a new founding
ceremony finishes it; each zone's first keys are one transaction of the signer
database, so a zone has all of them or none, and a zone that has them keeps them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from tldsec.audit.entry import Entry
from tldsec.audit.log import AuditLog
from tldsec.ceremony.gate import pass_gate
from tldsec.ceremony.pgpwords import hex_words
from tldsec.ceremony.policy import FOUND
from tldsec.ceremony.records import write_record
from tldsec.ceremony.roster import adoption_params
from tldsec.ceremony.signerconfig import current_hashes, record_approval
from tldsec.ceremony.store import CeremonyStore
from tldsec.cli.ceremony import audit_log, draft_for
from tldsec.cli.common import operator_actor, settings_from_args
from tldsec.clock import SystemClock
from tldsec.errors import CeremonyRefused, TldsecError
from tldsec.hsm.base import KeyStore
from tldsec.hsm.open import open_keystore
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager, add_signer_zone
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.zonerows import add_zone_row
from tldsec.settings import Settings


@dataclass(frozen=True, slots=True)
class FirstKeys:
    """What the founding made: a line per key and per DS, and whether any key waits
    for its backup (DPS 5.2.4). A home of several zones begins each line with its
    zone's origin (``shop. KSK 2048-bit key tag ...``)."""

    keys: list[str]
    ds: list[str]
    wait_for_backup: bool


def found(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = CeremonyStore(settings.home)
    smk: dict[str, str] = {}
    if args.smk_holder:  # approved with the founding, like the roster
        names = ",".join(spec.partition("=")[0] for spec in args.smk_holder)
        smk = {"smk_holders": names, "smk_threshold": str(args.smk_threshold)}
    with audit_log(settings) as audit:
        draft = draft_for(settings, audit, FOUND)
        zone_ids = _zone_rows(settings)  # before the ceremony is used: refusals cost nothing
        keystore = open_keystore(settings.keystore_spec())  # the login, too
        try:
            authorised = pass_gate(settings, FOUND, {**adoption_params(draft), **smk},
                                   args.ceremony, now=SystemClock().now(), audit=audit,
                                   actor=operator_actor(), approvers=draft)  # fmt: skip
            assert authorised is not None
            made = _first_keys(settings, zone_ids, keystore, audit, args.ceremony)
        finally:
            keystore.close()
        root = draft.digest()

        def first(earlier: list[Entry]) -> None:
            for e in earlier:
                raise CeremonyRefused(
                    f"the roster was founded already (audit seq {e.seq}); it changes only by "
                    "the quorum of the current roster (DPS 4.2.1): start ceremony.roster"
                )

        audit.record_if("ceremony.founded", first, actor=operator_actor(),
                        ceremony=args.ceremony, roster_sha256=root,
                        people=[f"{p.name} ({p.role.name})" for p in draft.people])  # fmt: skip
        # The founding quorum also approves the signer's configuration and policy as they
        # are now (DPS 4.2.2; ceremony/signerconfig.py): a later edit needs signer.config.
        hashes = current_hashes(settings)
        record_approval(audit, hashes, actor=operator_actor(), ceremony=args.ceremony, via=FOUND)
        path = store.add_version(draft, authorised.ceremony)
        store.remove_draft()
    outcome: dict[str, Any] = {"roster_sha256": root, "keys": made.keys, "ds": made.ds}
    if smk:
        # The SO's session comes with the audit log closed: PKCS#11 allows one user type
        # per token and process (cli/backup.py).
        from tldsec.cli.backup import make_smk

        shares = argparse.Namespace(home=args.home, holder=args.smk_holder,
                                    threshold=args.smk_threshold,
                                    so_pin_source=args.so_pin_source, ceremony=None)  # fmt: skip
        outcome["smk"] = make_smk(shares, within=authorised)
        print(f"SMK check value {outcome['smk']}\n  = {hex_words(outcome['smk'])}")
    with audit_log(settings) as audit:
        write_record(settings, authorised, outcome, now=SystemClock().now(), audit=audit,
                     actor=operator_actor())  # fmt: skip
    print(f"roster version 1 founded ({path})")
    print(f"founding roster SHA-256 (the trust root; pin it in tldsec.toml):\n  {root}")
    print(f'  [ceremony]\n  roster_root = "{root}"')
    print(f"  = {hex_words(root)}")
    for key in made.keys:
        print(f"{key}")
    if made.wait_for_backup:
        # DPS 5.2.4: the first keys enter the zone once a checked archive holds them.
        smk_step = (
            f"the SMK {outcome['smk']} is made"
            if smk
            else "the SO makes the SMK (tldsec backup smk-create --holder NAME=FILE ...)"
        )
        print(f"the keys wait for a backup (DPS 5.2.4): {smk_step}; next 'tldsec backup "
              f"keys --smk {outcome.get('smk', 'CHECK')} -o ARCHIVE' (in its ceremony), "
              "then the next 'tldsec cycle' publishes them")  # fmt: skip
    for line in made.ds:
        digest = line.split()[-1]
        print(f"DS {line}\n  = {hex_words(digest)}")
    print(f"each participant signs the record: tldsec ceremony sign {args.ceremony} "
          "--person NAME --key CARD")  # fmt: skip
    return 0


def _zone_rows(settings: Settings) -> dict[str, int]:
    """Each zone's id, its registry and signer rows made where missing, as ``tldsec zone
    add`` makes them (decision 60: the signer's id is the registry's); a zone whose rows
    disagree with ``tldsec.toml`` (nested, another policy or id) is refused here, before
    the ceremony is used. Rows are no part of the founding: a refusal after them leaves
    what ``zone add`` leaves."""
    now = SystemClock().now()
    registry = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        with registry.write() as session:
            ids = {
                origin: add_zone_row(session, origin, zone.policy_name, now)[0]
                for origin, zone in settings.zones.items()
            }
    finally:
        registry.dispose()
    engine = open_signer_db(settings.signer_db_url)
    try:
        for origin, zone_id in ids.items():
            add_signer_zone(engine, zone_id, origin, now)
    finally:
        engine.dispose()
    return ids


def _first_keys(
    settings: Settings,
    zone_ids: dict[str, int],
    keystore: KeyStore,
    audit: AuditLog,
    ceremony_id: str,
) -> FirstKeys:
    """Each zone's first KSK and ZSK, made in the HSM by its own policy in the founding
    ceremony (DPS 5.1.1), and the DS for the parent; a zone that has keys keeps them
    (and says so). A zone whose keys cannot be made stops the founding, saying how to
    go on (see the module)."""
    several = len(zone_ids) > 1
    keys: list[str] = []
    ds: list[str] = []
    wait = False
    engine = open_signer_db(settings.signer_db_url)
    try:
        for origin, zone_id in zone_ids.items():
            policy = settings.for_zone(origin).policy
            name = f"{origin} " if several else ""
            manager = KeyManager(engine, keystore, policy, SystemClock(), origin=origin,
                                 recorder=audit.record, actor=operator_actor(),
                                 zone_id=zone_id)  # fmt: skip
            try:
                existing = manager.key_records()
                created = [] if existing else manager.bootstrap(f"founding ceremony {ceremony_id}")
                records = manager.export_ds()
            except TldsecError as exc:
                stopped = _stopped(origin, ceremony_id, exc)
                # The ceremony was used (ceremony.completed): its end is on record too.
                audit.record("ceremony.aborted", actor=operator_actor(), ceremony=ceremony_id,
                             reason=stopped)  # fmt: skip
                raise CeremonyRefused(stopped) from exc
            if existing and several:
                print(f"{origin} has keys already (made before this ceremony, not in it)")
            elif existing:
                print("the home has keys already (made before the founding, not in this ceremony)")
            wait = wait or (bool(created) and policy.backup_before_use)
            keys += [
                f"{name}{k.role.value.upper()} {k.bits}-bit key tag {k.key_tag} ({k.key_id})"
                for k in created
            ]
            ds += [
                f"{name}{r.key_tag} {r.algorithm} {r.digest_type} {r.digest.hex().upper()}"
                for r in records
            ]
    finally:
        engine.dispose()
    return FirstKeys(keys, ds, wait)


def _stopped(origin: str, ceremony_id: str, exc: TldsecError) -> str:
    """The refusal of a founding whose keys of ``origin`` could not be made: what stands
    and how to go on."""
    return (
        f"the founding stopped: the first keys of {origin} could not be made ({exc}); "
        f"nothing is founded (the roster draft is kept; ceremony {ceremony_id} is used, "
        "and the zones whose keys were made keep them): mend the cause, then start a new "
        "ceremony.found ceremony and run 'tldsec ceremony found' with it"
    )

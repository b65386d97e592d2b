"""``tldsec backup``: the Storage Master Key and the key backups under it (DPS 5.2.4-5.2.7).

``smk-create`` has the Security Officer make the SMK in the configured HSM from the HSM's
own randomness and seal one SLIP-39 share to each holder's enrolled key, written to that
holder's own file (any ``--threshold`` of them rebuild it, DPS 5.2.2); ``smk-install``
puts it into another HSM from the holders' opened shares; ``keys`` writes every key
wrapped under it to an archive, checked once written; ``restore`` recreates an archive's
keys in an HSM that holds the SMK, all or none. Each is recorded in the audit log with the
operator as actor. With ``--ceremony ID`` (required for the operations ``[ceremony]
required`` names) a run needs the approval of three trusted people, one per role
(``tldsec ceremony``; DPS 5.2.2).
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tldsec.atomicfile import replacing
from tldsec.audit.config import open_audit_log
from tldsec.audit.log import AuditLog
from tldsec.cli.common import (
    add_ceremony_argument,
    add_home_argument,
    ceremony_gate,
    ceremony_record,
    operator_actor,
    settings_from_args,
)
from tldsec.cli.outputs import OutputPath
from tldsec.clock import SystemClock
from tldsec.errors import ConfigError, KeyStoreError
from tldsec.hsm.backup import (
    Holder,
    KeyArchive,
    SealedShare,
    assemble_smk,
    restore,
    split_smk,
    write_archive,
)
from tldsec.hsm.base import KeyStore, KeyStoreSpec
from tldsec.hsm.open import open_keystore
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.smk import SMK_BYTES, OfficerSession, officer_session
from tldsec.settings import Settings, resolve_pin

if TYPE_CHECKING:
    from tldsec.ceremony.gate import Authorised


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "backup",
        help="the Storage Master Key and key backups wrapped under it (DPS 5.2.4)",
        description="Private keys leave the HSM only wrapped under the Storage Master Key "
        "(DPS 5.2.5); the SMK is split among its holders, any THRESHOLD of whom rebuild it.",
    )
    acts = p.add_subparsers(dest="backup_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        a = acts.add_parser(name, help=help_text, description=help_text)
        add_home_argument(a)
        add_ceremony_argument(a)
        return a

    def officer(a: argparse.ArgumentParser) -> None:
        a.add_argument(
            "--so-pin-source",
            default="prompt",
            metavar="SOURCE",
            help="the security officer's PIN: prompt (default), file:PATH or env:NAME",
        )

    a = action("smk-create", "make the SMK in this HSM; seal one share to each holder")
    a.add_argument(
        "--holder",
        action="append",
        default=[],
        required=True,
        metavar="NAME=PATH",
        help="a holder on the ceremony roster and the new file for their sealed share",
    )
    a.add_argument("--threshold", type=int, default=3, help="shares needed (default 3)")
    officer(a)
    a.set_defaults(handler=_smk_create)
    a = action("smk-install", "install the SMK into this HSM from its holders' shares")
    a.add_argument("--share", action="append", default=[], type=Path, required=True)
    a.add_argument(
        "--key",
        action="append",
        default=[],
        type=Path,
        required=True,
        help="the private key of the holder of each --share, in the same order",
    )
    officer(a)
    a.set_defaults(handler=_smk_install)
    a = action("share-words", "a holder's share as SLIP-39 words, to write on paper")
    a.add_argument("share", type=Path)
    a.add_argument("--key", type=Path, required=True, help="the holder's private key")
    a.set_defaults(handler=_share_words)
    a = action("keys", "write every key of this HSM, wrapped under the SMK, to an archive")
    a.add_argument("--smk", required=True, metavar="CHECK", help="the SMK's check value")
    a.add_argument(
        "-o", "--out", action=OutputPath, required=True, help="the archive file to write"
    )
    a.set_defaults(handler=_keys)
    a = action("restore", "recreate an archive's keys in this HSM (it must hold the SMK)")
    a.add_argument("archive", type=Path)
    a.set_defaults(handler=_restore)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyStoreError(f"cannot read {what} {path}: {exc}") from exc


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyStoreError(f"cannot read {what} {path}: {exc.strerror}") from exc


@contextmanager
def _hsm(
    args: argparse.Namespace, operation: str, params: dict[str, str]
) -> Iterator[tuple[Pkcs11KeyStore, AuditLog, Authorised | None]]:
    """The HSM and the audit log, once the run has passed its ceremony gate (last, so
    that a ceremony is not used up by a run that could not have started anyway)."""
    settings = settings_from_args(args)
    audit = open_audit_log(settings, SystemClock())
    store: KeyStore | None = None
    try:
        store = open_keystore(settings.keystore_spec())
        if not isinstance(store, Pkcs11KeyStore):
            raise ConfigError(
                f"key backup under the SMK needs an HSM (a pkcs11 key store), not the "
                f"{settings.keystore.backend!r} backend"
            )
        authorised = ceremony_gate(settings, operation, params, args.ceremony, audit)
        yield store, audit, authorised
    finally:
        if store is not None:
            store.close()
        audit.close()


def _officer_spec(settings: Settings) -> KeyStoreSpec:
    """The configured HSM, without the user PIN: the security officer logs in."""
    ks = settings.keystore
    if ks.backend != "pkcs11":
        raise ConfigError(
            f"the Storage Master Key needs an HSM (a pkcs11 key store), not the "
            f"{ks.backend!r} backend"
        )
    return KeyStoreSpec(
        backend="pkcs11",
        module=ks.module,
        token_label=ks.token_label,
        softhsm2_conf=ks.softhsm2_conf,
    )


def _so_pin(source: str, settings: Settings, label: str | None) -> str:
    if source == "prompt":
        pin = getpass.getpass(f"security officer PIN of token '{label}': ")
        if not pin:
            raise KeyStoreError("no security officer PIN given")
        return pin
    return resolve_pin(source, settings.home)


def _holders(settings: Settings, specs: list[str]) -> list[tuple[Holder, Path]]:
    """Each ``NAME=PATH``: the holder's enrolled key (the verified ceremony roster, or
    before the founding its draft) and their file."""
    from tldsec.ceremony.gate import enrolled_people  # the roster's public-key lookup only

    audit = open_audit_log(settings, SystemClock())
    try:
        roster = enrolled_people(settings, audit)
    finally:
        audit.close()
    holders: list[tuple[Holder, Path]] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--holder {spec!r}: give NAME=PATH")
        person = roster.get(name)
        if person is None:
            raise ConfigError(
                f"--holder {name}: not on the ceremony roster (tldsec ceremony enrol {name})"
            )
        out = Path(path)
        if out.exists():
            raise ConfigError(f"{out} exists: a share is written to a new file")
        if not out.parent.is_dir():
            raise ConfigError(f"{out.parent} is not a directory: where does {name}'s share go?")
        holders.append((Holder(name, person.public_key), out))
    outs = [out.absolute() for _, out in holders]
    if len(set(outs)) != len(outs):
        raise ConfigError("each holder's share goes to a file of its own")
    return holders


@dataclass(slots=True)
class _Officer:
    """An SO session and the audit entries to write once it is closed; the outcome for
    the record of the ceremony that authorised it (DPS 5.1.1)."""

    session: OfficerSession
    authorised: Authorised | None = None
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)

    def record(self, event: str, **details: Any) -> None:
        self.entries.append((event, details))


@contextmanager
def _officer(
    args: argparse.Namespace,
    operation: str,
    params: dict[str, str],
    *,
    within: Authorised | None = None,
) -> Iterator[_Officer]:
    """A security officer session on the HSM, past the ceremony gate.

    The audit log keeps its own user login on the token (its checkpoint key may live
    there), and PKCS#11 allows one user type per token and process: so the SO PIN is
    tried first (a wrong one must not use up a ceremony), the gate passes with the audit
    log open, and what the SO did is recorded after the SO session is closed. ``within``:
    a ceremony that already authorised this as one of its acts (the founding), which
    records the outcome itself.
    """
    settings = settings_from_args(args)
    spec = _officer_spec(settings)
    so_pin = _so_pin(args.so_pin_source, settings, spec.token_label)
    with officer_session(spec, so_pin):
        pass
    authorised: Authorised | None = None
    if within is None:
        audit = open_audit_log(settings, SystemClock())
        try:
            authorised = ceremony_gate(settings, operation, params, args.ceremony, audit)
        finally:
            audit.close()
    with officer_session(spec, so_pin) as session:
        officer = _Officer(session, authorised)
        yield officer
    audit = open_audit_log(settings, SystemClock())
    try:
        for event, details in officer.entries:
            audit.record(event, actor=operator_actor(), **details)
        ceremony_record(settings, authorised, officer.outcome, audit)
    finally:
        audit.close()


def _smk_create(args: argparse.Namespace) -> int:
    make_smk(args)
    return 0


def make_smk(args: argparse.Namespace, *, within: Authorised | None = None) -> str:
    """``backup smk-create``: the SMK made by the SO and sealed to its holders; its check
    value. ``within``: the ceremony (the founding) whose act this is, past its gate."""
    settings = settings_from_args(args)
    _officer_spec(settings)  # an HSM, before anything else is asked
    holders = _holders(settings, args.holder)
    params = {"holders": ",".join(h.name for h, _ in holders), "threshold": str(args.threshold)}
    with _officer(args, "backup.smk-create", params, within=within) as officer:
        secret = officer.session.random(SMK_BYTES)  # the HSM's generator (decisions.md 20)
        try:
            shares = split_smk(secret, [h for h, _ in holders], args.threshold)
            check = shares[0].smk_check
            # The shares first: an SMK in the HSM that nobody holds could never be rebuilt.
            written: list[Path] = []
            try:
                for share, (_, out) in zip(shares, holders, strict=True):
                    with replacing(out, "w", encoding="utf-8", permissions=0o600) as f:
                        f.write(share.to_text() + "\n")
                    written.append(out)
                officer.session.install(secret, check)
            except BaseException:
                for out in written:
                    out.unlink(missing_ok=True)
                raise
        finally:
            del secret
        officer.outcome.update(smk=check, holders=[h.name for h, _ in holders],
                               threshold=args.threshold)  # fmt: skip
        officer.record(
            "key.generated",
            kind="storage master key",
            smk_check=check,
            token=officer.session.token_label,
            holders=[h.name for h, _ in holders],
            threshold=args.threshold,
        )
    print(f"SMK {check} made in token '{officer.session.token_label}' by its security officer")
    for share, (_, out) in zip(shares, holders, strict=True):
        print(f"  share of {share.holder}, sealed to their key: {out}")
    print(f"any {args.threshold} of the {len(holders)} holders rebuild the SMK")
    return check


def _smk_install(args: argparse.Namespace) -> int:
    if len(args.share) != len(args.key):
        raise ConfigError(
            f"{len(args.share)} --share but {len(args.key)} --key: each share is opened "
            "with its holder's key"
        )
    sealed = [SealedShare.parse(_read(path, "share"), str(path)) for path in args.share]
    checks = sorted({s.smk_check for s in sealed})
    if len(checks) > 1:
        raise KeyStoreError(f"the shares belong to different SMKs: {', '.join(checks)}")
    words = [
        share.open(_read_bytes(key, "private key"), str(key))
        for share, key in zip(sealed, args.key, strict=True)
    ]
    check = checks[0]
    secret = assemble_smk(check, words)
    try:
        with _officer(args, "backup.smk-install", {"smk": check}) as officer:
            officer.session.install(secret, check)
            officer.outcome.update(smk=check, holders=[s.holder for s in sealed])
            officer.record(
                "key.stored",
                kind="storage master key",
                smk_check=check,
                token=officer.session.token_label,
                holders=[s.holder for s in sealed],
            )
    finally:
        del secret
    label = officer.session.token_label
    print(f"SMK {check} installed in token '{label}' from {len(sealed)} shares")
    return 0


def _share_words(args: argparse.Namespace) -> int:
    share = SealedShare.parse(_read(args.share, "share"), str(args.share))
    words = share.open(_read_bytes(args.key, "private key"), str(args.key))
    print(f"share of {share.holder} for SMK {share.smk_check} ({share.threshold} needed):")
    print(words)
    return 0


def _keys(args: argparse.Namespace) -> int:
    with _hsm(args, "backup.keys", {"smk": args.smk}) as (store, audit, authorised):
        # Written, then checked as written: read back, its MAC verified in the HSM, and
        # each key unwrapped from it in a scratch session object and made to sign.
        archive = write_archive(store, args.smk, args.out, SystemClock().now())
        ids = [archived.key.key_id for archived in archive.keys]
        recorded = _record_backup(args, audit, ids, f"archive {args.out} under SMK {args.smk}")
        for archived in archive.keys:
            if archived.key.key_id in recorded:
                continue  # its first backup: recorded with the key's transition
            audit.record(
                "key.backed_up",
                actor=operator_actor(),
                key_id=archived.key.key_id,
                label=archived.key.label,
                smk_check=args.smk,
                backup_file=str(args.out),
            )
        archive_sha256 = hashlib.sha256(_read_bytes(args.out, "archive")).hexdigest()
        ceremony_record(settings_from_args(args), authorised, {"archive": str(args.out),
                        "archive_sha256": archive_sha256, "smk": args.smk,
                        "keys": ids}, audit)  # fmt: skip
    print(f"{len(archive.keys)} keys wrapped under SMK {args.smk} in {args.out}")
    if recorded:
        print(f"  {len(recorded)} backed up for the first time: the planner may now use them")
    return 0


def _record_backup(
    args: argparse.Namespace, audit: AuditLog, key_ids: list[str], reason: str
) -> set[str]:
    """Open the backup gate (DPS 5.2.4) of the zone's keys in a checked archive; the ids
    whose first backup this was (each recorded in the audit log as it is)."""
    from tldsec.keys.database import open_signer_db
    from tldsec.keys.service import KeyManager

    settings = settings_from_args(args)
    engine = open_signer_db(settings.signer_db_url)
    try:
        manager = KeyManager(
            engine,
            None,
            settings.policy,
            SystemClock(),
            origin=settings.origin,
            recorder=audit.record,
            actor=operator_actor(),
        )
        return {t.key_id for t in manager.record_backup(key_ids, reason)}
    finally:
        engine.dispose()


def _restore(args: argparse.Namespace) -> int:
    path: Path = args.archive
    text = _read(path, "archive")
    archive = KeyArchive.from_json(text, str(path))
    digest = hashlib.sha256(text.encode()).hexdigest()  # the approval is for this archive
    with _hsm(args, "backup.restore", {"archive_sha256": digest}) as (store, audit, authorised):
        try:
            result = restore(store, archive)
        except KeyStoreError as exc:
            raise KeyStoreError(f"{path}: {exc}") from exc
        for key in result.restored:
            audit.record(
                "key.recovered",
                actor=operator_actor(),
                key_id=key.key_id,
                label=key.label,
                smk_check=archive.smk_check,
                backup_file=str(path),
            )
        ceremony_record(settings_from_args(args), authorised, {"archive_sha256": digest,
                        "restored": [k.key_id for k in result.restored]}, audit)  # fmt: skip
    if not result.restored:
        print(
            f"nothing left to do: token '{store.token_label}' holds all "
            f"{len(result.present)} keys of {path}"
        )
        return 0
    print(f"{len(result.restored)} keys restored into token '{store.token_label}' from {path}")
    if result.present:
        print(f"  ({len(result.present)} were already there)")
    return 0

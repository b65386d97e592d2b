"""``tldsec backup``: the Storage Master Key and the key backups under it (DPS 5.2.4-5.2.7).

``smk-create`` makes the SMK in the configured HSM and writes one share file per holder
(any ``--threshold`` of them rebuild it, DPS 5.2.2); ``smk-install`` puts it into another
HSM from its holders' shares; ``keys`` writes every key wrapped under it to an archive;
``restore`` recreates an archive's keys in an HSM that holds the SMK. Each is recorded in
the audit log with the operator as actor. With ``--ceremony ID`` (required for the
operations ``[ceremony] required`` names) a run needs the approval of three trusted
people, one per role (``tldsec ceremony``; DPS 5.2.2).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.audit.config import open_audit_log
from tldsec.audit.log import AuditLog
from tldsec.cli.common import (
    add_home_argument,
    ceremony_gate,
    operator_actor,
    settings_from_args,
)
from tldsec.clock import SystemClock
from tldsec.errors import ConfigError, KeyStoreError
from tldsec.hsm.backup import KeyArchive, SmkShare, assemble_smk, back_up, new_smk, restore
from tldsec.hsm.base import KeyStore
from tldsec.hsm.open import open_keystore
from tldsec.hsm.pkcs11 import Pkcs11KeyStore


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
        a.add_argument(
            "--ceremony",
            metavar="ID",
            help="the key ceremony that authorises this run (tldsec ceremony; DPS 5.2.2)",
        )
        return a

    a = action("smk-create", "make the SMK in this HSM and write one share file per holder")
    a.add_argument("--shares", type=int, default=5, help="holders (default 5)")
    a.add_argument("--threshold", type=int, default=3, help="shares needed (default 3)")
    a.add_argument("--out", type=Path, required=True, help="a new directory for the shares")
    a.set_defaults(handler=_smk_create)
    a = action("smk-install", "install the SMK into this HSM from its holders' shares")
    a.add_argument("shares", nargs="+", type=Path, metavar="SHARE", help="share files")
    a.set_defaults(handler=_smk_install)
    a = action("keys", "write every key of this HSM, wrapped under the SMK, to an archive")
    a.add_argument("--smk", required=True, metavar="CHECK", help="the SMK's check value")
    a.add_argument("-o", "--out", type=Path, required=True, help="the archive file to write")
    a.set_defaults(handler=_keys)
    a = action("restore", "recreate an archive's keys in this HSM (it must hold the SMK)")
    a.add_argument("archive", type=Path)
    a.set_defaults(handler=_restore)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyStoreError(f"cannot read {what} {path}: {exc}") from exc


@contextmanager
def _hsm(
    args: argparse.Namespace, operation: str, params: dict[str, str]
) -> Iterator[tuple[Pkcs11KeyStore, AuditLog]]:
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
        ceremony_gate(settings, operation, params, args.ceremony, audit.record)
        yield store, audit
    finally:
        if store is not None:
            store.close()
        audit.close()


def _smk_create(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists():
        raise ConfigError(f"{out} exists: the shares go to a new directory")
    params = {"shares": str(args.shares), "threshold": str(args.threshold)}
    with _hsm(args, "backup.smk-create", params) as (store, audit):
        secret, shares = new_smk(args.shares, args.threshold)
        check = shares[0].smk_check
        # The shares first: an SMK in the HSM that nobody holds could never be rebuilt.
        out.mkdir(mode=0o700, parents=True)
        try:
            for share in shares:
                path = out / f"smk-{check}-share-{share.share.index}-of-{args.shares}.json"
                with replacing(path, "w", encoding="utf-8", permissions=0o600) as f:
                    f.write(share.to_text() + "\n")
            store.install_smk(secret, check)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        finally:
            del secret
        audit.record(
            "key.generated",
            actor=operator_actor(),
            kind="storage master key",
            smk_check=check,
            token=store.token_label,
            shares=args.shares,
            threshold=args.threshold,
        )
    print(f"SMK {check} made in token '{store.token_label}'; {args.shares} shares in {out}")
    print(f"give one share to each holder; any {args.threshold} of them rebuild the SMK")
    return 0


def _smk_install(args: argparse.Namespace) -> int:
    shares = [SmkShare.parse(_read(path, "share"), str(path)) for path in args.shares]
    secret, check = assemble_smk(shares)
    with _hsm(args, "backup.smk-install", {"smk": check}) as (store, audit):
        store.install_smk(secret, check)
        audit.record(
            "key.stored",
            actor=operator_actor(),
            kind="storage master key",
            smk_check=check,
            token=store.token_label,
            shares_used=len(shares),
        )
    print(f"SMK {check} installed in token '{store.token_label}' from {len(shares)} shares")
    return 0


def _keys(args: argparse.Namespace) -> int:
    with _hsm(args, "backup.keys", {"smk": args.smk}) as (store, audit):
        archive = back_up(store, args.smk, SystemClock().now())
        with replacing(args.out, "w", encoding="utf-8", permissions=0o600) as f:
            f.write(archive.to_json() + "\n")
        for archived in archive.keys:
            audit.record(
                "key.backed_up",
                actor=operator_actor(),
                key_id=archived.key.key_id,
                label=archived.key.label,
                smk_check=args.smk,
                backup_file=str(args.out),
            )
    print(f"{len(archive.keys)} keys wrapped under SMK {args.smk} in {args.out}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    path: Path = args.archive
    text = _read(path, "archive")
    archive = KeyArchive.from_json(text, str(path))
    digest = hashlib.sha256(text.encode()).hexdigest()  # the approval is for this archive
    with _hsm(args, "backup.restore", {"archive_sha256": digest}) as (store, audit):
        restored = restore(store, archive)
        for key in restored:
            audit.record(
                "key.recovered",
                actor=operator_actor(),
                key_id=key.key_id,
                label=key.label,
                smk_check=archive.smk_check,
                backup_file=str(path),
            )
    print(f"{len(restored)} keys restored into token '{store.token_label}' from {path}")
    return 0

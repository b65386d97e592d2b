"""``tldsec init``: create a home with the embedded defaults and the zone's first keys."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import secrets
import sys
import tomllib
from importlib import resources
from pathlib import Path

from tldsec.audit.config import open_audit_log
from tldsec.audit.events import EventType
from tldsec.cli import init_existing
from tldsec.cli.common import add_home_argument, operator_actor
from tldsec.cli.db import add_owner_role_argument
from tldsec.cli.pins import check_pin, read_pin_file
from tldsec.clock import SystemClock
from tldsec.epp.tlscert import make_self_signed
from tldsec.errors import ConfigError
from tldsec.hsm.file import create_key_directory
from tldsec.hsm.open import open_keystore
from tldsec.hsm.protection import OVERRIDE_FLAG, key_protection
from tldsec.hsm.softhsm import init_softhsm_token
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager
from tldsec.policy import PRODUCTION_POLICY, SECURITY_OFFICER
from tldsec.registry.database import RegistryDatabase
from tldsec.settings import CONFIG_NAME, home_from, load_settings

TOKEN_LABEL = "tldsec"
DEMO_POLICY = "demo"  # the embedded default: the home keeps the PIN; never "dps"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="create a tldsec home: config, key store, first keys",
        description="Create a tldsec home directory with the embedded "
        "defaults: tldsec.toml, a SoftHSM2 token (or a key directory), the "
        "signer database, and the zone's first KSK and ZSK per policy.",
    )
    add_home_argument(p)
    p.add_argument(
        "--origin",
        help="the TLD to sign, e.g. 'example.' (required, except with --existing: the "
        "config's [zone] origin)",
    )
    p.add_argument(
        "--existing",
        action="store_true",
        help="complete a home whose tldsec.toml you wrote (production: token initialised, "
        "databases and roles created): migrations as [database] owner_role, the audit key, "
        "the EPP certificate, the first keys; running it again says what is already done",
    )
    p.add_argument(
        "--epp-hostname",
        default="localhost",
        metavar="NAME",
        help="with --existing: the name in the self-signed EPP certificate made when "
        "[epp] tls_cert does not exist (default localhost)",
    )
    add_owner_role_argument(p)
    p.add_argument(
        "--keystore",
        choices=("pkcs11", "file"),
        default="pkcs11",
        help="pkcs11: keys in a SoftHSM2 token (default, DPS 5.2); file: PEM "
        "files, which needs a policy that allows it (written into the home)",
    )
    p.add_argument(
        OVERRIDE_FLAG,
        action="store_true",
        help="accept, under the dps policy, a PKCS#11 module that does not keep keys in it "
        "(CKA_WRAP_WITH_TRUSTED not enforced): recorded in the audit log",
    )
    p.add_argument(
        "--ceremony",
        action="store_true",
        help="a home under the DPS: every sensitive operation needs a key ceremony "
        '([ceremony] required = "all"), and the first keys are made in the founding '
        "ceremony (tldsec ceremony found), not now (DPS 5.1.1)",
    )
    p.add_argument(
        "--policy",
        choices=(DEMO_POLICY, PRODUCTION_POLICY),
        default=DEMO_POLICY,
        help="demo (default): the home keeps the token's PINs, for demos and tests; "
        "dps: the production policy, the Security Officer sets and holds the user PIN "
        "(asked at the terminal, or --pin-file) and the home stores none (DPS 4.2.4, 5.4)",
    )
    p.add_argument(
        "--so-pin-file",
        metavar="FILE",
        type=Path,
        help="with --policy dps: the Security Officer's file holding the token's SO PIN "
        "(else asked at the terminal)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.existing:
        return init_existing.run(args)
    if not args.origin:
        raise ConfigError(
            "--origin ORIGIN is required to make a new home (or --existing, to complete a "
            "home whose tldsec.toml you wrote)"
        )
    home = home_from(args.home)
    if (home / CONFIG_NAME).exists():
        raise ConfigError(
            f"{home / CONFIG_NAME} exists: {home} is already a tldsec home ('tldsec init "
            "--existing' completes a home whose config you wrote)"
        )
    origin = args.origin if args.origin.endswith(".") else args.origin + "."
    if args.keystore == "file" and args.policy == PRODUCTION_POLICY:
        raise ConfigError("--policy dps keeps keys in an HSM (DPS 5.2): not with --keystore file")
    officer = args.policy == PRODUCTION_POLICY
    # The Security Officer's PINs, asked before anything is written (DPS 5.4.1: the SO
    # specifies the PIN and it is known only to them).
    pin = _officer_pin(args.pin_file, home, "user PIN") if officer else secrets.token_hex(8)
    so_pin = _officer_pin(args.so_pin_file, home, "SO PIN") if officer else secrets.token_hex(8)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = [f'[zone]\norigin = "{origin.lower()}"\n']
    if args.keystore == "pkcs11":
        if officer:
            pin_source = SECURITY_OFFICER
        else:
            _write_secret(home / "pin", pin)
            # The SO PIN belongs to the Security Officers (DPS 5.4); the demo home keeps it
            # beside the token so that it is self-contained (its policy is not "dps").
            _write_secret(home / "so-pin", so_pin)
            pin_source = "file:pin"
        conf, module = init_softhsm_token(home, TOKEN_LABEL, pin, so_pin)
        lines.append(
            f'[keystore]\nbackend = "pkcs11"\nmodule = "{module}"\n'
            f'token_label = "{TOKEN_LABEL}"\npin_source = "{pin_source}"\n'
            f'softhsm2_conf = "{conf.name}"\n'
        )
        if not officer:
            (home / "policy.toml").write_text(_derived_policy_text(DEMO_POLICY, file=False))
            lines.append('[policy]\nfile = "policy.toml"\n')
    else:
        create_key_directory(home / "keys")
        lines.append('[keystore]\nbackend = "file"\ndirectory = "keys"\n')
        (home / "policy.toml").write_text(_derived_policy_text(FILE_POLICY, file=True))
        lines.append('[policy]\nfile = "policy.toml"\n')
    if args.ceremony:
        lines.append('[ceremony]\nrequired = "all"  # DPS 4.2.2: docs/ceremonies.md\n')
    (home / CONFIG_NAME).write_text("\n".join(lines))
    settings = load_settings(home)
    if officer:
        settings = dataclasses.replace(settings, pin_provider=lambda name, label: pin)
    clock = SystemClock()
    registry = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        registry.upgrade(origin=settings.origin)
    finally:
        registry.dispose()
    # The zone's own directory for its cycle files and store (decision 57's layout).
    settings.zone_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    epp = settings.epp
    fingerprint = None
    if epp.tls_cert is not None and epp.tls_key is not None and not epp.tls_cert.exists():
        # The embedded default: a self-signed pair; production replaces it (docs/epp.md).
        fingerprint = make_self_signed(epp.tls_cert, epp.tls_key, "localhost", clock=clock)
    audit = open_audit_log(settings, clock)
    store = open_keystore(settings.keystore_spec())
    try:
        # DPS 5.2.5: the token itself must keep keys in it (hsm/protection.py).
        protection = key_protection(
            store, settings.policy.name, args.accept_unenforced_key_protection
        )
        audit.record(
            EventType.HSM_INITIALIZED,
            actor=operator_actor(),
            backend=args.keystore,
            home=str(home),
            key_protection=protection,
        )
        manager = KeyManager(
            open_signer_db(settings.signer_db_url),
            store,
            settings.policy,
            clock,
            origin=settings.origin,
            recorder=audit.record,
            actor=operator_actor(),
        )
        # Under --ceremony the first keys wait for the founding ceremony (DPS 5.1.1).
        created = [] if args.ceremony else manager.bootstrap("tldsec init")
    finally:
        store.close()
        audit.close()
    now = SystemClock().now()
    print(
        f"tldsec home {home} for {settings.origin} ({args.keystore} key store, "
        f"policy {settings.policy.name})"
    )
    for key in created:
        state = key.state_at(now)
        print(
            f"  {key.role.value.upper()} {key.bits}-bit key tag {key.key_tag}: "
            f"{state.value if state else 'generated'}"
        )
    if fingerprint:
        print(f"  EPP TLS certificate {epp.tls_cert} (self-signed, SHA-256 {fingerprint})")
    if officer:
        print(
            "  the HSM user PIN is the Security Officer's: the home stores none; "
            "'tldsec serve' starts locked until 'tldsec hsm activate'"
        )
    elif args.keystore == "pkcs11":
        print(
            f"  policy {DEMO_POLICY}: the token's PINs are stored in {home}/pin and so-pin "
            "(demos and tests; production homes: --policy dps)"
        )
    if settings.policy.backup_before_use and created:
        print(BACKUP_NEXT)
    if args.ceremony:
        print(
            "next: enrol the trusted people (tldsec ceremony enrol), then the founding "
            "ceremony makes the roster and the first keys (tldsec ceremony found; "
            "tldsec ceremony script ceremony.found)"
        )
    elif not (settings.policy.backup_before_use and created):
        print(
            "next: 'tldsec keys export-ds' gives the DS to submit to the parent; "
            "'tldsec sign ZONEFILE -o OUT' signs a zone"
        )
    return 0


# DPS 5.2.4 under keystore.backup_before_use: what the operator does before the first keys
# enter the zone (ceremony found says the same).
BACKUP_NEXT = (
    "  the keys wait for a backup (DPS 5.2.4): they enter the zone only once a checked "
    "archive under the Storage Master Key holds them. Next: the SO makes the SMK "
    "('tldsec backup smk-create --holder NAME=FILE ...'), then 'tldsec backup keys --smk "
    "CHECK -o ARCHIVE', and '[backup] smk = \"CHECK\"' in tldsec.toml so that cycles "
    "archive the keys they make; the next 'tldsec cycle' publishes them ('tldsec keys "
    "plan' shows 'waiting for backup' until then)"
)


def _officer_pin(pin_file: Path | None, home: Path, what: str) -> str:
    """A PIN the Security Officer sets: from their file, or typed twice at the terminal."""
    if pin_file is not None:
        return read_pin_file(pin_file, home)
    if not sys.stdin.isatty():
        flag = "--pin-file" if what == "user PIN" else "--so-pin-file"
        raise ConfigError(
            f"--policy dps: the Security Officer sets the token's {what} (DPS 5.4.1): "
            f"run at a terminal to be asked, or pass {flag} FILE"
        )
    pin = getpass.getpass(f"Security Officer: choose the token's {what}: ")
    check_pin(pin, "the terminal")
    if getpass.getpass(f"Security Officer: the {what} again: ") != pin:
        raise ConfigError(f"the two {what}s differ; nothing was created")
    return pin


def _write_secret(path: Path, value: str) -> None:
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(value + "\n")


FILE_POLICY = "file-keys"  # tldsec init --keystore file: keys on disk; never "dps"


def _derived_policy_text(name: str, *, file: bool) -> str:
    """The built-in policy under another name, with the PIN stored in the home (and,
    with ``file``, keys allowed on disk): what the DPS promises, minus those two."""
    text = resources.files("tldsec.policies").joinpath("dps.toml").read_text("utf-8")
    tomllib.loads(text)  # the built-in policy always parses; a typo here is a bug
    edits = {
        f'name = "{PRODUCTION_POLICY}"': f'name = "{name}"  # tldsec init: not the production '
        "policy",
        f'activation = "{SECURITY_OFFICER}"': 'activation = "stored"  # tldsec init: the home '
        "keeps the PIN",
    }
    # DPS 5.2.4 asks for a checked archive under the SMK before a key is used; a demo or
    # file home has no Storage Master Key, so its first keys sign at once (not "dps").
    edits["backup_before_use = true"] = (
        "backup_before_use = false  # tldsec init: no Storage Master Key in a demo home"
    )
    if file:
        edits['allowed_backends = ["pkcs11"]'] = (
            'allowed_backends = ["pkcs11", "file"]  # tldsec init '
            "--keystore file: keys on disk, not in an HSM"
        )
    for marker, replacement in edits.items():
        if marker not in text:
            raise ConfigError(f"cannot derive the {name} policy from the built-in policy")
        text = text.replace(marker, replacement, 1)
    return text

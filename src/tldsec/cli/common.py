"""Arguments and helpers shared by command groups."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tldsec.errors import ConfigError, DatabaseUnavailable, ZoneNotNamed
from tldsec.settings import Settings, home_from, load_settings

if TYPE_CHECKING:
    from tldsec.audit.log import AuditLog
    from tldsec.ceremony.gate import Authorised


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="tldsec home directory (default: $TLDSEC_HOME or ./tldsec-home)",
    )
    parser.add_argument(
        "--pin-file",
        metavar="FILE",
        type=Path,
        help="the Security Officer's file holding the HSM user PIN, outside the home "
        '(pin_source = "security-officer"); without it the PIN is asked at the terminal',
    )


ALL_DATABASES = ("registry", "signer", "audit")


def add_zone_argument(parser: argparse.ArgumentParser) -> None:
    """``--zone ORIGIN`` for a command that changes one zone (decision 57, "CLI --zone
    conventions"): default the home's only zone."""
    parser.add_argument(
        "--zone",
        metavar="ORIGIN",
        help="the zone to act on ('shop' or 'shop.'; default: the home's only zone)",
    )


def zone_settings(args: argparse.Namespace, **kwargs: Any) -> Settings:
    """The home's settings narrowed to the one zone a changing command acts on
    (``--zone``, or the only zone; ``Settings.one_zone``, decision 64): its origin,
    policy and directory, and the audit log opened on them names it (decision 58).
    Several zones and none named: ``ZoneNotNamed``, exit 2."""
    settings = settings_from_args(args, **kwargs)
    zone = getattr(args, "zone", None)
    if zone is None and len(settings.zones) > 1:
        raise ZoneNotNamed(
            f"this home serves {', '.join(settings.zones)}: name one with --zone "
            f"({settings.source})"
        )
    return settings.one_zone(zone)


def file_zone_settings(settings: Settings, zone: str | None, origin: str | None) -> Settings:
    """The settings narrowed for a command on a zone file (``sign``, ``verify``): the zone
    ``--zone`` names, else the home's zone that ``--origin`` names, else the only zone;
    ``ZoneNotNamed`` (exit 2) with several zones and neither naming one of them."""
    if zone is None and origin is not None:
        named = origin.lower() if origin.endswith(".") else origin.lower() + "."
        zone = named if named in settings.zones else None
    if zone is None and len(settings.zones) > 1:
        raise ZoneNotNamed(
            f"this home serves {', '.join(settings.zones)}: name one with --zone "
            f"({settings.source})"
        )
    return settings.one_zone(zone)


def settings_from_args(
    args: argparse.Namespace, *, databases: tuple[str, ...] = ALL_DATABASES
) -> Settings:
    """The home's settings; each of ``databases`` they name must exist (a command that
    creates one on purpose, such as ``db upgrade --create``, passes ``()``)."""
    from tldsec.cli.pins import OfficerPins

    home = home_from(args.home)
    settings = load_settings(home)
    args.loaded_settings = settings  # for the error layer (main.py) to name the URLs
    require_databases(settings, databases)
    # A PIN the Security Officer holds is asked for only when a command opens the HSM
    # (cli/pins.py).
    pins = OfficerPins(
        home=home,
        pin_file=getattr(args, "pin_file", None),
        pipe=sys.stdin if getattr(args, "pin_stdin", False) else None,
    )
    return dataclasses.replace(settings, pin_provider=pins)


def require_databases(settings: Settings, names: tuple[str, ...] = ALL_DATABASES) -> None:
    """Refuse a ``[database]`` URL naming a database that does not exist: opening it
    would create an empty one, and a cycle would publish a TLD without delegations."""
    from tldsec.db.exists import database_exists  # SQLAlchemy only for the commands

    for name, url in settings.database_urls().items():
        if name not in names:
            continue
        where = database_key(settings, name)
        try:
            if database_exists(url):
                continue
        except DatabaseUnavailable as exc:
            raise DatabaseUnavailable(
                f"cannot reach the {name} database {redacted(url)} ({where}): {exc.reason}; "
                "start the database server or correct the URL, then run the command again",
                reason=exc.reason,
            ) from exc
        create = "'tldsec audit init'" if name == "audit" else "'tldsec db upgrade --create'"
        raise ConfigError(
            f"the {name} database {redacted(url)} ({where}) does not exist: check the URL "
            f"for a typo, or run {create} to create a new, empty one"
        )


def database_key(settings: Settings, name: str) -> str:
    """Where the URL of database ``name`` comes from: the key and its file, or its default."""
    written = getattr(settings.config.database, f"{name}_url") is not None
    if written:
        return f"[database] {name}_url in {settings.source}"
    return f"the default of [database] {name}_url"


def redacted(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        rest = f"{user}:***@{rest.split('@', 1)[1]}"
    return f"{scheme}{sep}{rest}"


def operator_actor() -> str:
    """The audit actor for a person at the command line: ``person:<login name>``."""
    import getpass
    import re

    name = re.sub(r"[^A-Za-z0-9._@+-]", "-", getpass.getuser())[:128] or "unknown"
    return f"person:{name}"


def default_processes() -> int:
    """One EPP process per core (decisions.md 15, which replaces 14): one process is
    bound to one core by the GIL, and once the DS hot path spent less time in Python a
    second process on two cores gave 40 % more transforms per second at 30 % less CPU
    per transform (docs/benchmarks.md)."""
    return max(1, os.cpu_count() or 1)


def ceremony_gate(
    settings: Settings,
    operation: str,
    params: dict[str, str],
    ceremony_id: str | None,
    audit: AuditLog,
) -> Authorised | None:
    """Refuse ``operation`` unless its ceremony authorises it, where the home requires
    one (``[ceremony] required``; ``ceremony/gate.py``, DPS 4.2.2, 5.2.2): the one call a
    gated command makes before it changes anything. The operator is the actor of what is
    recorded; the ceremony is used up (in the audit log) when this returns."""
    from tldsec.ceremony.gate import pass_gate  # only for the commands that need it
    from tldsec.clock import SystemClock

    return pass_gate(
        settings,
        operation,
        params,
        ceremony_id,
        now=SystemClock().now(),
        audit=audit,
        actor=operator_actor(),
    )


def config_approved(settings: Settings, audit: AuditLog | None, what: str) -> None:
    """Refuse ``what``, a command that signs or publishes, unless tldsec.toml and the
    policy file are the ones a ``signer.config`` ceremony approved, where ``[ceremony]
    required`` names it (``ceremony/signerconfig.py``, DPS 4.2.2)."""
    from tldsec.ceremony.signerconfig import check_approved

    check_approved(settings, audit, what)


def ceremony_record(
    settings: Settings, authorised: Authorised | None, outcome: dict[str, Any], audit: AuditLog
) -> None:
    """After a gated run: the record of its ceremony with what came out (key tags, DS
    digests, an archive's SHA-256), for each participant to sign (DPS 5.1.1); nothing
    when no ceremony authorised the run."""
    from tldsec.ceremony.records import write_record
    from tldsec.clock import SystemClock

    write_record(settings, authorised, outcome, now=SystemClock().now(), audit=audit,
                 actor=operator_actor())  # fmt: skip


def add_ceremony_argument(parser: argparse.ArgumentParser) -> None:
    """``--ceremony ID`` for a command the ceremony gate guards."""
    parser.add_argument(
        "--ceremony",
        metavar="ID",
        help="the key ceremony that authorises this run (tldsec ceremony; DPS 4.2.2)",
    )

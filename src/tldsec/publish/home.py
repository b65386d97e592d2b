"""Gathering a home's values for the public repository and writing it (``tldsec publish``).

The edge of the publish package: reads the DPS versions named by ``[[publish.dps]]``,
the key records from the signer database, the audit log's incidents, and hands them to
the pure ``site.build_site``; then writes the site atomically and records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine

from tldsec.audit.events import EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.clock import FakeClock
from tldsec.errors import ConfigError
from tldsec.keys.config import load_key_settings
from tldsec.keys.service import KeyManager, signer_zone_id
from tldsec.publish import dps as dpsmod
from tldsec.publish.calendar import rollover_calendar
from tldsec.publish.dps import DpsVersion
from tldsec.publish.incidents import INCIDENT_EVENTS, incidents
from tldsec.publish.site import SiteInput, build_site, fingerprint
from tldsec.publish.write import write_site
from tldsec.settings import Settings
from tldsec.zonehome import zone_dir_name

ACTOR = "component:publisher"


@dataclass(frozen=True, slots=True)
class Published:
    """What one ``tldsec publish`` wrote."""

    directory: Path  # the served path (a symbolic link)
    version_dir: Path  # the directory it now points at
    files: tuple[str, ...]
    dps_version: str | None
    ds_tags: tuple[int, ...]
    fingerprint: str = ""  # site.fingerprint: what the site says, without the clock


def dps_versions(settings: Settings) -> list[DpsVersion]:
    """The ``[[publish.dps]]`` versions with their text; a missing file or a bad date is a
    ``ConfigError`` naming the version."""
    out: list[DpsVersion] = []
    for t in settings.config.publish.dps:
        path = Path(t.file) if Path(t.file).is_absolute() else settings.home / t.file
        try:
            effective = date.fromisoformat(t.effective)
        except ValueError:
            raise ConfigError(
                f"[[publish.dps]] version {t.version}: effective = {t.effective!r} is not "
                "a date (YYYY-MM-DD)"
            ) from None
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"[[publish.dps]] version {t.version}: cannot read {path}: {exc}"
            ) from exc
        try:
            out.append(DpsVersion(t.version, effective, text, t.summary, t.significant, str(path)))
        except ValueError as exc:
            raise ConfigError(f"[[publish.dps]]: {exc}") from exc
    try:
        return dpsmod.ordered(out)
    except ValueError as exc:
        raise ConfigError(f"[[publish.dps]]: {exc}") from exc


def build_home_site(
    settings: Settings, signer_engine: Engine, audit: AuditLog, now: datetime
) -> tuple[SiteInput, dict[str, bytes]]:
    """The site of this home as of ``now``: its input values and its files."""
    table = settings.config.publish
    versions = dps_versions(settings)
    if not versions:
        raise ConfigError(
            f"{settings.source}: no [[publish.dps]] names the DNSSEC Policy Statement to "
            "publish (DPS 1.4.3, 2.1); see docs/publication.md"
        )
    keys_conf = load_key_settings(settings)
    timing = keys_conf.timing(settings.policy)
    km = KeyManager(
        signer_engine,
        None,
        settings.policy,
        FakeClock(now),
        origin=settings.origin,
        timing=timing,
        zone_id=signer_zone_id(signer_engine, settings.origin),  # the zone's own keys
    )
    keys = km.key_records()
    going = km.going_insecure()
    insecure = going[0] if going else None
    ds = km.export_ds(table.digest_types, now=now)  # the same call as 'keys export-ds'
    # This zone's incidents and the installation's (decision 58), not another zone's.
    flt = EntryFilter(
        events=(*INCIDENT_EVENTS, *set(INCIDENT_EVENTS.values())), zone=settings.origin
    )
    site = SiteInput(
        origin=settings.origin,
        now=now,
        policy=settings.policy,
        keys=keys,
        ds=ds,
        dps=versions,
        calendar=rollover_calendar(
            keys,
            settings.policy,
            timing,
            now,
            table.calendar_days,
            insecure_since=insecure,
            handover=km.transfer(),
        ),
        incidents=incidents(
            iter_entries(audit.engine, flt), now, settings.policy.cycle.safety_margin
        ),
        calendar_days=table.calendar_days,
        title=table.title,
        base_url=table.base_url,
    )
    return site, build_site(site)


def publish_home(
    settings: Settings,
    signer_engine: Engine,
    audit: AuditLog,
    now: datetime,
    out: Path | None = None,
    *,
    unless: str | None = None,
) -> Published | None:
    """Build and write the site to ``out`` (default ``[publish] directory``); recorded.
    With ``unless`` (a previous ``Published.fingerprint``): None, nothing written, when
    the site would say the same and is still in place."""
    target = out or output_dir(settings)
    site, files = build_home_site(settings, signer_engine, audit, now)
    mark = fingerprint(site)
    if unless == mark and target.is_symlink() and target.exists():
        return None
    version_dir = write_site(files, target)
    current = dpsmod.in_force(site.dps, now)
    result = Published(
        directory=target,
        version_dir=version_dir,
        files=tuple(sorted(files)),
        dps_version=current.version if current else None,
        ds_tags=tuple(sorted({d.key_tag for d in site.ds})),
        fingerprint=mark,
    )
    audit.record(
        EventType.REPOSITORY_PUBLISHED,
        actor=ACTOR,
        directory=str(target),
        dps_version=result.dps_version,
        ds=list(result.ds_tags),
        files=len(files),
    )
    return result


def output_dir(settings: Settings) -> Path:
    """``[publish] directory``, relative to the home; ``{zone}`` in it is the zone's
    directory name (``example``), for a home of several zones (decision 68)."""
    directory = settings.config.publish.directory
    if "{zone}" in directory:
        directory = directory.replace("{zone}", zone_dir_name(settings.origin))
    return _in_home(settings.home, directory)


def _in_home(home: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else home / path

"""The zones of a home and the policies they follow, from ``tldsec.toml`` (decision 57).

A home serves the zones of its ``[zones.NAME]`` tables, each naming a policy of
``[policies]``; a home written before decision 57 has one ``[zone]`` table with its
``origin`` and one ``[policy] file``, read as the only zone following the policy named
``default``, and its file is not rewritten. Both forms in one file are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tldsec.errors import ConfigError
from tldsec.policy import Policy, load_policy
from tldsec.settings.tables import ConfigFile, ZoneKeys

DEFAULT_POLICY = "default"  # the name [policy] file takes among [policies]
# RFC 1123 2.1 host-name labels (letters, digits, inner hyphens; "xn--" A-labels of
# RFC 5890 included), at most 63 octets each (RFC 1035 2.3.4).
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class ApexSettings:
    """The apex the zone builder writes: ``apex_ns``, ``apex_glue``, ``soa_*``."""

    ns: tuple[str, ...]
    glue: tuple[tuple[str, str], ...]  # (name server, address) for apex NS under the TLD
    soa_mname: str
    soa_rname: str
    soa_refresh: int = 1800
    soa_retry: int = 900
    soa_expire: int = 1209600


@dataclass(frozen=True, slots=True)
class ZoneSettings:
    """One zone of the home: its origin, apex, registry rules and policy."""

    origin: str  # lower case, with its final dot: "example."
    apex: ApexSettings
    reserved_names: tuple[str, ...]
    documentation_glue: bool
    policy_name: str  # its name in [policies]
    ksk_stagger_days: int = 7

    @property
    def name(self) -> str:
        """The origin without its dot: the ``[zones.NAME]`` table and ``zones/NAME/``."""
        return self.origin.rstrip(".")


@dataclass(frozen=True, slots=True)
class ZonesRead:
    """What ``read_zones`` found: the zones in file order and the policies by name."""

    zones: Mapping[str, ZoneSettings]
    zones_dir: str  # as written, relative to the home
    policies: Mapping[str, Policy]
    policy_files: Mapping[str, Path | None]


def read_zones(
    tables: ConfigFile, data: Mapping[str, Any], home: Path, *, source: str, enforce_policy: bool
) -> ZonesRead:
    """The zones and policies of a checked ``tldsec.toml`` (``data`` is the file as parsed,
    to tell a table written from one left at its default)."""
    if "zone" in data and "zones" in data:
        raise ConfigError(
            f"{source} has both [zone] and [zones.NAME] tables: keep one of them "
            "([zone] for a home of one zone, [zones.NAME] for each zone otherwise)"
        )
    if "policy" in data and "policies" in data:
        raise ConfigError(
            f"{source} has both [policy] and [policies]: keep one of them "
            f"([policy] file is [policies] {DEFAULT_POLICY} = FILE)"
        )
    policy_files = _policy_files(tables, home, source)
    zones: dict[str, ZoneSettings] = {}
    zones_dir = "zones"
    if tables.zone is not None:
        zone = tables.zone
        origin = zone.origin
        if not origin:
            raise ConfigError(f"[zone] origin in {source} is empty: name the TLD")
        origin = (origin if origin.endswith(".") else origin + ".").lower()
        zones_dir = zone.zones_dir
        zones[origin] = _zone(zone, origin, DEFAULT_POLICY, 7, f"[zone] of {source}")
    else:
        if not tables.zones:
            raise ConfigError(
                f"{source} names no zone: add a [zones.NAME] table for each TLD "
                "(NAME is the origin without its dot, e.g. [zones.example]), "
                'or one [zone] table with origin = "..."'
            )
        for name, table in tables.zones.items():
            origin = table_origin(name, source)
            if origin in zones:
                raise ConfigError(f"[zones.{name}] in {source}: {origin} is named twice")
            zones[origin] = _zone(
                table, origin, table.policy, table.ksk_stagger_days, f"[zones.{name}] of {source}"
            )
        _refuse_nested(list(zones), source)
    for z in zones.values():
        if z.policy_name not in policy_files:
            where = "[zone]" if tables.zone is not None else f"[zones.{z.name}] policy"
            raise ConfigError(
                f"{where} in {source}: policy {z.policy_name!r} is not in [policies] "
                f"(it names {', '.join(sorted(policy_files))})"
            )
    policies = {
        name: load_policy(path, enforce=enforce_policy) for name, path in policy_files.items()
    }
    return ZonesRead(zones, zones_dir, policies, policy_files)


def _policy_files(tables: ConfigFile, home: Path, source: str) -> dict[str, Path | None]:
    """``[policies]`` by name, or ``[policy] file`` as ``default``; paths in the home."""
    if not tables.policies:
        file = tables.policy.file
        return {DEFAULT_POLICY: _in_home(home, file) if file else None}
    out: dict[str, Path | None] = {}
    for name, file in tables.policies.items():
        if not file:
            raise ConfigError(
                f"[policies] {name} in {source} is empty: name a policy file (relative to the home)"
            )
        out[name] = _in_home(home, file)
    return out


def table_origin(name: str, source: str) -> str:
    """The origin of ``[zones.NAME]``: NAME, lower case, with its final dot."""
    if name.endswith("."):
        raise ConfigError(
            f'[zones."{name}"] in {source}: write the origin without its final dot '
            f'([zones."{name.rstrip(".")}"])'
        )
    lowered = name.lower()
    labels = lowered.split(".")
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad or len(lowered) > 253:
        raise ConfigError(
            f'[zones."{name}"] in {source}: {name!r} is not a zone name (labels of letters, '
            "digits and inner hyphens, 1-63 characters each, A-labels for IDNs; RFC 1123 2.1, "
            "RFC 5890)"
        )
    return lowered + "."


def _refuse_nested(origins: list[str], source: str) -> None:
    """Zones are not nested (decision 57): the parent would publish the child's DS."""
    for child in origins:
        for parent in origins:
            if child != parent and child.endswith("." + parent):
                raise ConfigError(
                    f"{source}: zone {child} is under zone {parent}; one home does not serve "
                    "a zone and its child zone (decision 57)"
                )


def _zone(table: ZoneKeys, origin: str, policy: str, stagger_days: int, where: str) -> ZoneSettings:
    return ZoneSettings(
        origin=origin,
        apex=_apex(table, origin, where),
        reserved_names=table.reserved_names,
        documentation_glue=table.documentation_glue,
        policy_name=policy,
        ksk_stagger_days=stagger_days,
    )


def _in_home(home: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else home / path


def _apex(zone: ZoneKeys, origin: str, where: str) -> ApexSettings:
    """Apex NS and glue; the defaults (a/b.nic.ORIGIN on documentation addresses,
    RFC 5737 and RFC 3849) make a loadable zone until the operator sets real ones."""
    ns = zone.apex_ns if zone.apex_ns is not None else (f"a.nic.{origin}", f"b.nic.{origin}")
    if not ns:
        raise ConfigError(f"apex_ns in {where} must be a non-empty list of names")
    glue = zone.apex_glue
    if glue is None:
        glue = (
            {}
            if zone.apex_ns is not None
            else {
                f"a.nic.{origin}": ("192.0.2.53", "2001:db8::53"),
                f"b.nic.{origin}": ("198.51.100.53", "2001:db8:1::53"),
            }
        )

    def absolute(name: str) -> str:
        return name.lower() if name.endswith(".") else f"{name.lower()}."

    pairs: list[tuple[str, str]] = []
    for host, addresses in sorted(glue.items()):
        pairs.extend((absolute(host), a) for a in addresses)
    return ApexSettings(
        ns=tuple(absolute(n) for n in ns),
        glue=tuple(pairs),
        soa_mname=absolute(zone.soa_mname or ns[0]),
        soa_rname=absolute(zone.soa_rname or f"hostmaster.{origin}"),
        soa_refresh=zone.soa_refresh,
        soa_retry=zone.soa_retry,
        soa_expire=zone.soa_expire,
    )

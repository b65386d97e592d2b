"""The public repository's files from values (DPS 2.1, 2.2).

``build_site`` renders the pages (Jinja2, autoescaped) and the machine-readable copies
from one ``SiteInput``; it returns ``{relative path: bytes}`` and writes nothing. Every
page is built from the same dictionary that ``repository.json`` holds, so the page and
the JSON cannot disagree.

Pages: ``index.html``; ``dps.html`` (the DPS in force) and ``dps-VERSION.html`` for each
version, with the history; ``keys.html`` (the DS set for the root, the DNSKEY set, each
key's history); ``calendar.html`` (the next months' rollovers); ``incidents.html``.
Copies: ``repository.json`` (everything), ``ds.json``, ``keys.json``, ``calendar.json``,
``incidents.json``, ``dps.json``, ``ds.zone`` and ``dnskey.zone`` (zone-file lines) and
``dps-VERSION.txt`` (each version's text).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2

from tldsec.audit.entry import format_time
from tldsec.keys.ds import DsRecord
from tldsec.keys.state import KeyRecord, KeyState, Role
from tldsec.policy import Policy
from tldsec.publish.calendar import CalendarEntry
from tldsec.publish.dps import DpsVersion, in_force, ordered, parse_sections
from tldsec.publish.incidents import Incident

FORMAT = 1  # repository.json's format version
_IN_ZONE = (KeyState.PUBLISHED, KeyState.ACTIVE, KeyState.RETIRED)
_HISTORY_FACTS = (
    ("generated", "created"),
    ("published", "published"),
    ("active", "active"),
    ("retired", "retired"),
    ("removed", "removed"),
    ("ds_submitted", "ds_submitted"),
    ("ds_seen", "ds_seen"),
    ("ds_withdrawn", "ds_withdrawn"),
    ("compromised", "compromised"),
)


@dataclass(frozen=True, slots=True)
class SiteInput:
    """Everything the site shows, gathered by the caller."""

    origin: str  # absolute, e.g. "example."
    now: datetime
    policy: Policy
    keys: Sequence[KeyRecord]
    ds: Sequence[DsRecord]  # the DS set the parent should hold now (keys.ds.parent_ds_set)
    dps: Sequence[DpsVersion]
    calendar: Sequence[CalendarEntry]
    incidents: Sequence[Incident]
    calendar_days: int = 365
    title: str = ""
    base_url: str = ""


def _iso(t: datetime | None) -> str | None:
    return format_time(t) if t is not None else None


def dnskey_line(key: KeyRecord, origin: str, ttl: int) -> str:
    """The DNSKEY in zone-file form (RFC 4034 2.2)."""
    b64 = base64.b64encode(key.public_key).decode("ascii")
    return f"{origin} {ttl} IN DNSKEY {key.flags} 3 {int(key.algorithm)} {b64}"


def repository(site: SiteInput) -> dict[str, Any]:
    """The whole repository as JSON-ready data: what every page and copy is made from."""
    ttl = site.policy.ttl.dnskey
    current = in_force(site.dps, site.now)
    dnskeys = [k for k in site.keys if k.state_at(site.now) in _IN_ZONE]
    return {
        "format": FORMAT,
        "zone": site.origin,
        "generated": _iso(site.now),
        "base_url": site.base_url,
        "ds": [{**d.as_json(), "zone_line": d.zone_line()} for d in site.ds],
        "dnskey": [
            {
                "key_tag": k.key_tag,
                "role": str(k.role),
                "flags": k.flags,
                "algorithm": int(k.algorithm),
                "bits": k.bits,
                "state": str(k.state_at(site.now)),
                "signing": k.state_at(site.now) is KeyState.ACTIVE,
                "zone_line": dnskey_line(k, site.origin, ttl),
            }
            for k in sorted(dnskeys, key=lambda k: (k.role is not Role.KSK, k.key_tag))
        ],
        "keys": [
            {
                "key_tag": k.key_tag,
                "role": str(k.role),
                "algorithm": int(k.algorithm),
                "bits": k.bits,
                "state": str(k.state_at(site.now)),
                **{name: _iso(getattr(k, fact)) for name, fact in _HISTORY_FACTS},
            }
            for k in sorted(site.keys, key=lambda k: (k.created, k.key_tag))
            if k.published is not None  # a key never in the zone is nobody else's concern
        ],
        "calendar": {
            "days": site.calendar_days,
            "events": [c.as_json() for c in site.calendar],
        },
        "incidents": [i.as_json() for i in reversed(site.incidents)],
        "dps": {
            "in_force": current.version if current else None,
            "versions": [
                {
                    "version": v.version,
                    "effective": v.effective.isoformat(),
                    "summary": v.summary,
                    "significant": v.significant,
                    "sha256": v.sha256,
                    "status": _status(v, current, site.now),
                    "html": f"dps-{v.slug}.html",
                    "text": f"dps-{v.slug}.txt",
                }
                for v in reversed(ordered(site.dps))
            ],
        },
    }


def fingerprint(site: SiteInput) -> str:
    """SHA-256 of what the site says about keys, DS, the DPS and incidents: a caller that
    keeps the last one re-publishes only when it changed (the time of generation and the
    calendar, which moves with the clock, are left out)."""
    data = repository(site)
    subset = {k: data[k] for k in ("ds", "dnskey", "keys", "incidents", "dps")}
    text = json.dumps(subset, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _status(v: DpsVersion, current: DpsVersion | None, now: datetime) -> str:
    if v is current:
        return "in force"
    return "upcoming" if v.effective_at > now else "superseded"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tldsec.publish", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def build_site(site: SiteInput) -> dict[str, bytes]:
    """Every file of the site by relative path."""
    data = repository(site)
    env = _environment()
    title = site.title or f"{site.origin.rstrip('.') or '.'} DNSSEC repository"
    common = {"data": data, "title": title, "zone": site.origin}
    files: dict[str, bytes] = {}

    def page(name: str, template: str, **extra: Any) -> None:
        html = env.get_template(template).render(**common, page=name, **extra)
        files[name] = html.encode("utf-8")

    current = in_force(site.dps, site.now)
    page("index.html", "index.html", current=current)
    page("keys.html", "keys.html")
    page("calendar.html", "calendar.html")
    page("incidents.html", "incidents.html")
    for v, meta in zip(reversed(ordered(site.dps)), data["dps"]["versions"], strict=True):
        page(meta["html"], "dps.html", version=v, meta=meta, sections=parse_sections(v.text))
        files[meta["text"]] = v.text.encode("utf-8")
    if current is not None:
        files["dps.html"] = files[f"dps-{current.slug}.html"]
    else:
        page("dps.html", "dps.html", version=None, meta=None, sections=[])
    files["style.css"] = env.get_template("style.css").render().encode("utf-8")

    def js(value: Any) -> bytes:
        return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode("utf-8")

    files["repository.json"] = js(data)
    for part in ("ds", "dnskey", "keys", "calendar", "incidents", "dps"):
        files[f"{part}.json"] = js({"zone": site.origin, "generated": data["generated"],
                                    part: data[part]})  # fmt: skip
    files["ds.zone"] = "".join(d["zone_line"] + "\n" for d in data["ds"]).encode("ascii")
    files["dnskey.zone"] = "".join(k["zone_line"] + "\n" for k in data["dnskey"]).encode("ascii")
    return files

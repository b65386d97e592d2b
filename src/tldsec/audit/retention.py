"""How long a home's one audit log keeps its entries (DPS 4.4.3): the longest any of its
zones' policies asks.

A home keeps one audit log for every zone it serves (decision 58), and each zone's policy
promises its DPS 4.4.3 retention of that zone's evidence. An entry that goes by one zone's
shorter retention may be another zone's evidence, so the log is kept on-line as long as
the longest on-line retention among the zones' policies, and an archive as long as the
longest archive retention (each maximum taken on its own; decision 79). A home of one
zone keeps its policy's, as before. Every reader of the retention (serve's housekeeping,
``tldsec audit``, status, the compliance report) asks ``audit_retention``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tldsec.policy import AuditPolicy
from tldsec.settings import Settings, home_zone_policies


@dataclass(frozen=True, slots=True)
class AuditRetention:
    """The retention the home's audit log follows, and the zones whose policies set it."""

    policy: AuditPolicy  # each retention the longest any zone's policy asks
    # The zones whose policy asks that retention, where the zones' policies differ on it;
    # () where every zone asks the same.
    online_set_by: tuple[str, ...] = ()
    archive_set_by: tuple[str, ...] = ()

    def summary(self) -> str:
        """``730 days on-line, 1825 days archived (the longest of the zones' policies:
        shop.'s)``; without the parenthesis where every zone's policy asks the same."""
        return describe(
            self.policy.online_retention.days,
            self.policy.archive_retention.days,
            self.online_set_by,
            self.archive_set_by,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "online_days": self.policy.online_retention.days,
            "archive_days": self.policy.archive_retention.days,
            "online_set_by": list(self.online_set_by) or None,
            "archive_set_by": list(self.archive_set_by) or None,
        }


def audit_retention(settings: Settings) -> AuditRetention:
    """The retention of the home's audit log: on-line and archive, each the longest any
    of the home's zones' policies asks (DPS 4.4.3; decision 79): the whole home's, in
    settings narrowed to one zone (``for_zone``) too (decision 83)."""
    asked = {
        origin: settings.policies[name].audit
        for origin, name in home_zone_policies(settings).items()
    }
    online = max(a.online_retention for a in asked.values())
    archive = max(a.archive_retention for a in asked.values())
    return AuditRetention(
        AuditPolicy(online_retention=online, archive_retention=archive),
        _set_by({o: a.online_retention for o, a in asked.items()}, online),
        _set_by({o: a.archive_retention for o, a in asked.items()}, archive),
    )


def _set_by(asked: dict[str, timedelta], longest: timedelta) -> tuple[str, ...]:
    """The zones asking ``longest``, in the file's order; () where all ask the same."""
    if len(set(asked.values())) == 1:
        return ()
    return tuple(origin for origin, days in asked.items() if days == longest)


def describe(
    online_days: int,
    archive_days: int,
    online_set_by: tuple[str, ...] | list[str] | None,
    archive_set_by: tuple[str, ...] | list[str] | None,
) -> str:
    """The retention in words, for ``tldsec status`` (from its JSON) and the report."""
    text = f"{online_days} days on-line, {archive_days} days archived"
    on, archived = tuple(online_set_by or ()), tuple(archive_set_by or ())
    if not on and not archived:
        return text
    if on == archived:
        return f"{text} (the longest of the zones' policies: {_whose(on)})"
    parts = [
        f"on-line {_whose(on)}" if on else "",
        f"archived {_whose(archived)}" if archived else "",
    ]
    return f"{text} (the longest of the zones' policies: {', '.join(p for p in parts if p)})"


def _whose(origins: tuple[str, ...]) -> str:
    return " and ".join(f"{o}'s" for o in origins)

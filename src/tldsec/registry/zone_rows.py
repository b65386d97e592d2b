"""A zone's row in the registry's ``zone`` table, found by its origin (decision 57).

A cycle, a build and the digest each work on one zone, named by its registry id; this
is where that id comes from. The origin is ``tldsec.toml``'s; a zone there that the
registry has no row for was never added to it, which is a configuration error.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tldsec.errors import ConfigError
from tldsec.registry.models import Zone
from tldsec.registry.zones import absolute


def zone_id_of(session: Session, origin: str) -> int:
    """The registry id of the zone ``origin`` (``example`` or ``example.``, any case);
    ``ConfigError`` naming ``tldsec zone add`` when the registry has no such zone."""
    wanted = absolute(origin)
    found = session.scalar(select(Zone.id).where(func.lower(Zone.origin) == wanted))
    if found is None:
        known = session.scalars(select(Zone.origin).order_by(Zone.id)).all()
        raise ConfigError(
            f"the registry has no zone {wanted} (it has: {', '.join(known) or 'none'}): "
            f"'tldsec zone add {wanted}' adds it, or 'tldsec db upgrade' for a home made "
            "before zones were kept"
        )
    return int(found)

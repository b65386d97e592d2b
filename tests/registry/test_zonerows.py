"""registry/zonerows.py: ``tldsec zone add``'s registry row (decision 68), on SQLite and
PostgreSQL, in a registry whose zone 1 the migration inserted with its id (so a
sequence would hand out 1 again on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tldsec.errors import ConfigError
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.models import ZoneSerial
from tldsec.registry.zonerows import add_zone_row, nested_with, zone_rows

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryDatabase]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = RegistryDatabase.from_url(url)
    database.upgrade(origin="example.")  # zone 1, inserted with its id by 0007_zones
    yield database
    database.dispose()


def test_a_zone_row_takes_the_next_id_and_a_second_add_finds_it(db: RegistryDatabase) -> None:
    with db.write() as session:
        assert add_zone_row(session, "Shop", "default", NOW) == (2, True)
    with db.write() as session:
        assert add_zone_row(session, "shop.", "default", NOW) == (2, False)
        assert add_zone_row(session, "market.", "strict", NOW) == (3, True)
        session.add(ZoneSerial(id=2, serial=2026120701, built_at=NOW))
    with db.read() as session:
        rows = zone_rows(session)
    assert [(r.zone_id, r.origin, r.policy, r.serial) for r in rows] == [
        (1, "example.", "default", None),
        (2, "shop.", "default", 2026120701),
        (3, "market.", "strict", None),
    ]


def test_nested_zones_and_another_policy_are_refused(db: RegistryDatabase) -> None:
    with (
        db.write() as session,
        pytest.raises(ConfigError, match=r"co\.example\. and zone example\."),
    ):
        add_zone_row(session, "co.example.", "default", NOW)
    with db.write() as session, pytest.raises(ConfigError, match="follows policy 'default'"):
        add_zone_row(session, "example.", "strict", NOW)
    with db.read() as session:
        assert [r.origin for r in zone_rows(session)] == ["example."]


def test_nested_either_way() -> None:
    assert nested_with("co.example.", ["shop.", "example."]) == "example."
    assert nested_with("example", ["co.example."]) == "co.example."
    assert nested_with("example.", ["example.", "notexample."]) is None

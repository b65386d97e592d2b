"""Keys per zone (decisions 57 and 60): a signer database written before is its one
zone's after the migration (keys, tags, facts and events kept, nothing generated), a key
tag is unique within a zone only, and a signer database of another zone than the home's
is refused before anything changes (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from tests.keys.conftest import T0
from tldsec.clock import FakeClock
from tldsec.db import migrate
from tldsec.errors import ConfigError
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager
from tldsec.policy import Policy

BEFORE = "0006_operator_transfer"
KEYS = "SELECT key_id, key_tag, role, public_key, created, published, active FROM signer_keys"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'signer.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_signer_db(url)
    yield engine
    engine.dispose()


def rows(engine: Engine, query: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query))]


def test_a_one_zone_signer_database_becomes_zone_1_unchanged(
    engine: Engine, policy: Policy
) -> None:
    KeyManager(engine, MemoryKeyStore(), policy, FakeClock(T0), origin="example").bootstrap("t")
    with engine.begin() as conn:  # the database as 0.1.0 left it
        command.downgrade(migrate.alembic_config("signer", conn), BEFORE)
    keys, events = rows(engine, KEYS), rows(engine, "SELECT * FROM signer_key_events")
    assert len(keys) == 3 and "zone_id" not in str(events)
    with pytest.raises(
        ConfigError, match=r"holds the keys of example\.? but the home's zone is shop\."
    ):
        migrate.upgrade(engine, "signer", origin="shop.")
    migrate.upgrade(engine, "signer", origin="example.")
    assert rows(engine, KEYS) == keys
    assert rows(engine, "SELECT DISTINCT zone_id FROM signer_keys") == [(1,)]
    assert rows(engine, "SELECT DISTINCT zone_id FROM signer_key_events") == [(1,)]
    assert len(rows(engine, "SELECT * FROM signer_key_events")) == len(events)
    assert rows(engine, "SELECT id, origin FROM signer_meta") == [(1, "example.")]


def test_a_key_tag_is_unique_within_its_zone_only(engine: Engine, policy: Policy) -> None:
    KeyManager(engine, MemoryKeyStore(), policy, FakeClock(T0), origin="example").bootstrap("t")
    key_id, tag = rows(engine, "SELECT key_id, key_tag FROM signer_keys")[0]
    copy = (
        "INSERT INTO signer_keys (key_id, zone_id, role, algorithm, bits, public_key, key_tag,"
        " label, created) SELECT :new, :zone, role, algorithm, bits, public_key, key_tag,"
        " label, created FROM signer_keys WHERE key_id = :old"
    )
    with engine.begin() as conn:  # another zone's key with the same tag
        conn.execute(text(copy), {"new": "other-zone-key", "zone": 2, "old": key_id})
    with pytest.raises(IntegrityError), engine.begin() as conn:  # a second one in zone 1
        conn.execute(text(copy), {"new": "same-zone-key", "zone": 1, "old": key_id})
    assert rows(engine, f"SELECT zone_id FROM signer_keys WHERE key_tag = {tag}") in (
        [(1,), (2,)], [(2,), (1,)],
    )  # fmt: skip

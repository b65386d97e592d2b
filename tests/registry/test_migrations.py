"""The Alembic migration builds exactly the tables and columns the models declare."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, select, text

from tests.fixtures.registry import RegistryWorld
from tldsec.registry import models

REGISTRY_TABLES = {
    m.__tablename__: m.__table__
    for m in vars(models).values()
    if isinstance(m, type) and issubclass(m, models.Base) and hasattr(m, "__tablename__")
}


def test_migrated_schema_matches_the_models(registry_world_any: RegistryWorld) -> None:
    inspector = inspect(registry_world_any.db.engine)
    tables = set(inspector.get_table_names())
    assert set(REGISTRY_TABLES) <= tables
    assert "alembic_version_registry" in tables
    for name, table in REGISTRY_TABLES.items():
        migrated = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(migrated) == set(table.c.keys()), name
        for column in table.c:
            assert migrated[column.name]["nullable"] == column.nullable, (name, column.name)
        pk = inspector.get_pk_constraint(name)["constrained_columns"]
        assert set(pk) == {c.name for c in table.primary_key}, name


def _schema(engine: Engine) -> dict[str, object]:
    """Every table's columns, keys, indexes and constraints, and the migration version."""
    inspector = inspect(engine)
    schema: dict[str, object] = {}
    for name in sorted(inspector.get_table_names()):
        schema[name] = (
            [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(name)
            ],
            inspector.get_pk_constraint(name),
            sorted(inspector.get_foreign_keys(name), key=repr),
            sorted(inspector.get_indexes(name), key=repr),
            sorted(inspector.get_unique_constraints(name), key=repr),
            sorted(inspector.get_check_constraints(name), key=repr),
        )
    with engine.connect() as conn:
        schema["version"] = conn.execute(text("SELECT * FROM alembic_version_registry")).all()
    return schema


def test_upgrade_twice_is_a_no_op(registry_world_any: RegistryWorld) -> None:
    world = registry_world_any
    world.add_registrar("alpha")
    before = _schema(world.db.engine)
    world.db.upgrade()
    assert _schema(world.db.engine) == before
    with world.db.read() as s:
        assert s.scalars(select(models.Registrar.client_id)).all() == ["alpha"]

"""Issue 13, attack 1: a misspelt ``[database]`` key, or a URL naming a database that does
not exist, is a clear error for every command; nothing creates an empty registry and
nothing is published. Only ``tldsec db upgrade --create`` (and ``init``) make one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distribute.homes import Registry, make_home
from tldsec.cli.main import main
from tldsec.db.exists import create_database, database_exists

CONFIG = "tldsec.toml"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose registry holds three delegations, never published yet."""
    home = make_home(tmp_path_factory.mktemp("typo") / "home")
    registry = Registry(home)
    try:
        registry.seed(3)
    finally:
        registry.close()
    return home


def published(home: Path) -> list[Path]:
    return sorted((home / "zones").rglob("*.zone"))


def with_database_table(home: Path, table: str) -> None:
    config = home / CONFIG
    text = config.read_text("utf-8").split("\n[database]\n")[0]
    config.write_text(text + "\n[database]\n" + table, "utf-8")


def test_a_misspelt_registry_url_stops_every_command_and_publishes_nothing(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "registry2.db"
    with_database_table(seeded, f'registy_url = "sqlite:///{typo}"\n')
    expected = (
        f"unknown key 'registy_url' in [database] of {seeded / CONFIG}; "
        "did you mean 'registry_url'?"
    )
    for argv in (["status"], ["cycle", "--force"], ["db", "upgrade"], ["registrar", "list"]):
        assert main([*argv, "--home", str(seeded)]) != 0
        err = capsys.readouterr().err
        assert expected in err, (argv, err)
        assert "db upgrade" not in err  # no advice that would create an empty registry
    assert published(seeded) == [] and not typo.exists()


def test_a_registry_url_naming_no_database_is_refused_until_created_on_purpose(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "regsitry.db"  # the key is right, the file name is not
    url = f"sqlite:///{missing}"
    with_database_table(seeded, f'registry_url = "{url}"\n')
    for argv in (["status"], ["cycle", "--force"], ["db", "upgrade"], ["registrar", "list"]):
        assert main([*argv, "--home", str(seeded)]) != 0
        err = capsys.readouterr().err
        assert f"the registry database {url} ([database] registry_url in" in err, (argv, err)
        assert "does not exist: check the URL for a typo" in err
    assert published(seeded) == [] and not missing.exists()  # nothing made it

    assert main(["db", "upgrade", "--create", "--home", str(seeded)]) == 0
    assert f"registry: {url} created" in capsys.readouterr().out
    assert missing.exists() and database_exists(url)
    with_database_table(seeded, "")  # back to the home's own registry
    assert main(["status", "--home", str(seeded)]) == 0


def test_a_missing_default_database_is_named_as_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / CONFIG).write_text('[zone]\norigin = "example"\n[audit]\nkey_backend = "file"\n')
    assert main(["registrar", "list", "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert "the default of [database] registry_url" in err and "db upgrade --create" in err
    assert not (home / "registry.db").exists()


def test_postgresql_databases_are_checked_and_created(postgres_url: str) -> None:
    assert database_exists(postgres_url)
    base, _, name = postgres_url.rpartition("/")
    other = f"{base}/{name}_x"
    assert not database_exists(other)
    create_database(other)
    try:
        assert database_exists(other)
    finally:
        import psycopg

        admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_x" WITH (FORCE)')

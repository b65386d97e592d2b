"""The ceremony files (``ceremony/store.py``): settings, roster files and ceremonies that
are wrong are named with what is wrong and where; nothing in a ceremony's file says
whether it was used (the audit log does, ``ceremony/gate.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tldsec.ceremony.policy import CONFIGURABLE, DEFAULT_QUORUMS, OperationClass
from tldsec.ceremony.quorum import Quorum
from tldsec.ceremony.store import CeremonyStore, load_ceremony_settings
from tldsec.errors import CeremonyRefused, ConfigError
from tldsec.settings import load_settings

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_settings_name_operations_quorums_and_the_root_and_refuse_the_rest(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tldsec.toml"
    zone = '[zone]\norigin = "example"\n'
    config.write_text(zone)
    settings = load_ceremony_settings(load_settings(tmp_path))
    assert settings.required == frozenset() and settings.quorums == DEFAULT_QUORUMS
    root = "ab" * 32
    config.write_text(
        f'{zone}[ceremony]\nrequired = "all"\nvalid_minutes = 30\nroster_root = "{root}"\n'
        '[ceremony.quorum]\nsigning-components = ["sa", "so", "wi"]\n'
    )
    settings = load_ceremony_settings(load_settings(tmp_path))
    assert settings.required == frozenset(CONFIGURABLE) and settings.valid_minutes == 30
    assert settings.roster_root == root
    assert settings.quorums[OperationClass.SIGNING_COMPONENTS] == Quorum.of("sa", "so", "wi")
    assert "ceremony.roster" not in settings.required  # always gated, not configurable
    for bad, reason in (
        ('required = ["keys.destroy"]', "unknown: keys.destroy"),
        ('required = ["keys.rolover"]', "did you mean 'keys.rollover'"),
        ('required = "some"', "unknown: 'some'"),
        ("valid_minutes = 0", "valid_minutes .* must be at least 1"),
        ("valid_minutes = true", "valid_minutes .* must be an integer"),
        ("roster_root = 'abc'", "roster_root is the founding roster's SHA-256"),
        ("quorom = 3", "did you mean 'quorum'"),
        ("[ceremony.quorum]\nkey-generation = ['sa', 'wi']", "needs at least 3 people"),
        ("[ceremony.quorum]\nroster = ['sa', 'boss']", "'boss' is not a valid Role"),
        ("[ceremony.quorum]\nlunch = ['sa', 'so']", "'lunch' is not a valid OperationClass"),
    ):
        config.write_text(f"{zone}[ceremony]\n{bad}\n")
        with pytest.raises(ConfigError, match=reason):
            load_ceremony_settings(load_settings(tmp_path))


def test_an_unsigned_or_damaged_roster_is_refused(tmp_path: Path) -> None:
    store = CeremonyStore(tmp_path)
    assert store.chain() == []
    store.directory.mkdir()
    (store.directory / "roster.toml").write_text('[[person]]\nname = "ann"\n')
    with pytest.raises(CeremonyRefused, match="unsigned roster and authorises nothing"):
        store.chain()
    (store.directory / "roster.toml").unlink()
    versions = store.directory / "roster"
    versions.mkdir()
    (versions / "0002.json").write_text("{}")
    with pytest.raises(CeremonyRefused, match=r"expected 0001\.json"):
        store.chain()
    (versions / "0002.json").rename(versions / "0001.json")
    with pytest.raises(CeremonyRefused, match="not a readable roster version"):
        store.chain()


def test_unknown_and_damaged_ceremonies_are_refused(tmp_path: Path) -> None:
    store = CeremonyStore(tmp_path)
    with pytest.raises(CeremonyRefused, match="no ceremony 20261130-abcd"):
        store.get("20261130-abcd")
    with pytest.raises(CeremonyRefused, match="is not a ceremony id"):
        store.get("../roster")
    with pytest.raises(ConfigError, match=r"unknown operation 'keys\.destroy'"):
        store.start("keys.destroy", {}, NOW, 60)
    ceremony = store.start("keys.rollover", {"role": "ksk"}, NOW, 60)
    ceremony_id = ceremony.statement.ceremony_id
    assert store.get(ceremony_id) == ceremony
    (store.directory / f"{ceremony_id}.json").write_text("{}")
    with pytest.raises(CeremonyRefused, match="not a readable ceremony"):
        store.get(ceremony_id)

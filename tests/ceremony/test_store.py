"""The ceremony files (``ceremony/store.py``): settings, roster and ceremonies that are
wrong are named with what is wrong and where; a used ceremony takes nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tldsec.ceremony.quorum import Approval, Person, Role
from tldsec.ceremony.store import OPERATIONS, CeremonyStore, load_ceremony_settings
from tldsec.errors import CeremonyRefused, ConfigError
from tldsec.settings import load_settings

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_settings_name_operations_or_all_and_refuse_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "tldsec.toml"
    zone = '[zone]\norigin = "example"\n'
    config.write_text(zone)
    assert load_ceremony_settings(load_settings(tmp_path)).required == frozenset()  # none
    config.write_text(zone + '[ceremony]\nrequired = "all"\nvalid_minutes = 30\n')
    settings = load_ceremony_settings(load_settings(tmp_path))
    assert settings.required == frozenset(OPERATIONS) and settings.valid_minutes == 30
    for bad, reason in (
        ('required = ["keys.destroy"]', "unknown: keys.destroy"),
        ('required = ["keys.rolover"]', "did you mean 'keys.rollover'"),
        ('required = "some"', "unknown: 'some'"),
        ("valid_minutes = 0", "valid_minutes .* must be at least 1"),
        ("valid_minutes = 1441", "valid_minutes .* must be at most 1440"),
        ("valid_minutes = true", "valid_minutes .* must be an integer"),
        ("requried = []", "unknown key 'requried' in \\[ceremony\\].*did you mean 'required'"),
    ):
        config.write_text(f"{zone}[ceremony]\n{bad}\n")
        with pytest.raises(ConfigError, match=reason):
            load_ceremony_settings(load_settings(tmp_path))


def test_a_damaged_roster_is_named(tmp_path: Path) -> None:
    store = CeremonyStore(tmp_path)
    store.directory.mkdir()
    roster = store.directory / "roster.toml"
    for text, reason in (
        ('[[person]]\nname = "ann"\nrole = "sa"\n', "person 1: 'public_key'"),
        ('[[person]]\nname = "ann"\nrole = "boss"\npublic_key = ""\n', "person 1: 'boss'"),
        ('[[person]]\nname = "ann"\nrole = "sa"\npublic_key = "AAAA"\n', "not an Ed25519"),
    ):
        roster.write_text(text)
        with pytest.raises(ConfigError, match=reason):
            store.roster()
    roster.unlink()
    with pytest.raises(ConfigError, match="a name is letters"):
        store.add_person(Person("ann smith", Role.SA, bytes(32)))
    store.add_person(Person("ann", Role.SA, bytes(32)))
    with pytest.raises(ConfigError, match="already on the ceremony roster"):
        store.add_person(Person("ann", Role.WI, bytes(32)))


def test_unknown_damaged_and_used_ceremonies_are_refused(tmp_path: Path) -> None:
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
    store.mark_used(ceremony, NOW)
    with pytest.raises(CeremonyRefused, match="already used"):
        store.mark_used(ceremony, NOW)
    with pytest.raises(CeremonyRefused, match="already used"):
        store.add_approval(store.get(ceremony_id), Approval("ann", b"x"))
    (store.directory / f"{ceremony_id}.json").write_text("{}")
    with pytest.raises(CeremonyRefused, match="not a readable ceremony"):
        store.get(ceremony_id)

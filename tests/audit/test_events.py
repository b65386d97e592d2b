"""The event catalogue covers DPS 4.4.1; actors are person, registrar or component."""

from __future__ import annotations

from pathlib import Path

import pytest

from tldsec.audit.events import CATALOGUE, Actor, ActorKind, Category, EventType, Level

DOCS = Path(__file__).parents[2] / "docs" / "audit.md"


def test_every_event_type_is_in_the_catalogue_and_named_by_its_category() -> None:
    assert set(CATALOGUE) == set(EventType)
    for event in EventType:
        assert event.value == event.value.lower() and "." in event.value
        assert event.info.description


def test_every_dps_4_4_1_bullet_has_events() -> None:
    used = {info.category for info in CATALOGUE.values()}
    assert used == set(Category)


@pytest.mark.parametrize(
    ("bullet", "events"),
    [
        (Category.KEY_LIFECYCLE, {"key.generated", "key.backed_up", "key.stored",
                                  "key.recovered", "key.archived", "key.destroyed"}),
        (Category.KEY_STATE, {"key.activated", "key.deactivated", "key.rollover_started",
                              "key.algorithm_changed"}),
        (Category.KEY_MATERIAL, {"ds.received", "ds.accepted", "ds.rejected", "zone.verified"}),
        (Category.ACCESS, {"access.login", "access.login_failed"}),
        (Category.FACILITY, {"facility.entry", "facility.exit"}),
        (Category.ANOMALY, {"system.crash", "clock.backwards", "clock.unsynchronised"}),
    ],
)  # fmt: skip
def test_the_dps_events_are_there(bullet: Category, events: set[str]) -> None:
    assert events <= {e.value for e, info in CATALOGUE.items() if info.category is bullet}


def test_levels_are_ordered_and_parse_case_insensitively() -> None:
    assert [lv.rank for lv in Level] == [0, 1, 2, 3, 4]
    assert Level.parse("WARNING") is Level.WARNING
    with pytest.raises(ValueError, match="unknown level 'loud'"):
        Level.parse("loud")


def test_actors_parse_and_print() -> None:
    assert str(Actor.parse("registrar:reg-1")) == "registrar:reg-1"
    assert Actor.parse("person:alice@example.org").kind is ActorKind.PERSON
    assert Actor.component("signer") == Actor(ActorKind.COMPONENT, "signer")
    for bad in ("alice", "robot:r2", "person:", "person:a b", "person:-x"):
        with pytest.raises(ValueError):
            Actor.parse(bad)


def test_unknown_event_types_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown audit event type 'key\.lost'"):
        EventType.parse("key.lost")


def test_docs_list_every_event_type() -> None:
    text = DOCS.read_text("utf-8")
    missing = [e.value for e in EventType if f"`{e.value}`" not in text]
    assert not missing, f"docs/audit.md does not list {missing}"

"""Contact services (RFC 5733): private to their sponsor, protected while linked."""

from __future__ import annotations

import pytest

from tests.fixtures.registry import RegistryWorld
from tldsec.errors import AssociationProhibits, InvalidValue, NotSponsor, ObjectExists
from tldsec.registry.contacts import (
    ContactData,
    ContactUpdate,
    PostalInfo,
    contact_info,
    create_contact,
    delete_contact,
    update_contact,
)
from tldsec.registry.domains import DomainCreate, create_domain

POSTAL = PostalInfo("int", "Jane Doe", "Tokyo", "JP", street=("1-2-3 Shibuya",))


@pytest.fixture
def world(registry_world: RegistryWorld) -> RegistryWorld:
    registry_world.add_registrar("alpha")
    registry_world.add_registrar("beta")
    with registry_world.db.write() as s:
        create_contact(
            s, registry_world.tx("alpha"), ContactData("jd1", (POSTAL,), "jd@x.test", "c-auth")
        )
    return registry_world


def test_info_is_for_the_sponsor_or_with_auth_info(world: RegistryWorld) -> None:
    with world.db.read() as s:
        view = contact_info(s, world.tx("alpha"), "jd1")
        assert view.postal == (POSTAL,) and view.email == "jd@x.test"
        with pytest.raises(NotSponsor):
            contact_info(s, world.tx("beta"), "jd1")
        assert contact_info(s, world.tx("beta"), "jd1", "c-auth").handle == "jd1"


def test_duplicate_and_invalid(world: RegistryWorld) -> None:
    with world.db.write() as s, pytest.raises(ObjectExists):
        create_contact(s, world.tx("beta"), ContactData("jd1", (POSTAL,), "a@b.test", "x-auth"))
    bad = PostalInfo("int", "Jürgen", "Köln", "DE")
    with world.db.write() as s, pytest.raises(InvalidValue, match="US-ASCII"):
        create_contact(s, world.tx("beta"), ContactData("jk1", (bad,), "a@b.test", "x-auth"))


def test_update_and_linked_delete(world: RegistryWorld) -> None:
    with world.db.write() as s:
        update_contact(s, world.tx("alpha"), ContactUpdate("jd1", email="new@x.test"))
        create_domain(
            s,
            world.tx("alpha"),
            DomainCreate("one.example", "auth-1", registrant="jd1", contacts=(("tech", "jd1"),)),
        )
    with world.db.write() as s, pytest.raises(AssociationProhibits):
        delete_contact(s, world.tx("alpha"), "jd1")
    with world.db.read() as s:
        view = contact_info(s, world.tx("alpha"), "jd1")
    assert view.email == "new@x.test" and "linked" in view.statuses
    with world.db.write() as s, pytest.raises(NotSponsor):
        update_contact(s, world.tx("beta"), ContactUpdate("jd1", email="evil@x.test"))

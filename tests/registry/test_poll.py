"""The poll queue: oldest first, ack by id, only one's own messages."""

from __future__ import annotations

import pytest

from tests.fixtures.registry import RegistryWorld
from tldsec.errors import ObjectNotFound
from tldsec.registry.objects import queue_message
from tldsec.registry.poll import poll_ack, poll_request


def test_queue_order_and_ack(registry_world: RegistryWorld) -> None:
    alpha = registry_world.add_registrar("alpha")
    registry_world.add_registrar("beta")
    assert alpha.registrar_id is not None
    with registry_world.db.write() as s:
        assert poll_request(s, registry_world.tx("alpha")).first is None
        for text in ("first", "second"):
            queue_message(s, registry_world.tx(), alpha.registrar_id, text, None)
    with registry_world.db.write() as s:
        state = poll_request(s, registry_world.tx("alpha"))
        assert state.count == 2 and state.first and state.first.text == "first"
        with pytest.raises(ObjectNotFound):
            poll_ack(s, registry_world.tx("beta"), str(state.first.id))
        with pytest.raises(ObjectNotFound):
            poll_ack(s, registry_world.tx("alpha"), "not-a-number")
        assert poll_ack(s, registry_world.tx("alpha"), str(state.first.id)).count == 1

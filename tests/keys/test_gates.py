"""Which ds-seen / ds-gone gates a parent check opens (keys/gates.py, no network)."""

from __future__ import annotations

from datetime import timedelta

from tests.keys.conftest import T0
from tests.keys.keymaker import make_key
from tldsec.keys.ds import ds_for_key
from tldsec.keys.gates import ParentCheck, ParentServer, ServerAnswer, confirmations
from tldsec.keys.state import KeyRecord, Role

DAY = timedelta(days=1)
A = ParentServer("192.0.2.1")
B = ParentServer("192.0.2.2")


def ds_of(key: KeyRecord) -> tuple[int, int, int, bytes]:
    ds = ds_for_key(key, "example.", 2, 86400, T0)
    return (ds.key_tag, ds.algorithm, ds.digest_type, ds.digest)


def test_seen_needs_every_server_and_gone_needs_none() -> None:
    new = make_key(Role.KSK, T0, published=T0, ds_submitted=T0)
    old = make_key(
        Role.KSK, T0, published=T0, active=T0, retired=T0 + DAY,
        ds_submitted=T0, ds_seen=T0, ds_withdrawal_requested=T0 + DAY,
    )  # fmt: skip
    now = T0 + 3 * DAY
    both = ParentCheck(
        "example.",
        (ServerAnswer(A, frozenset({ds_of(new)})), ServerAnswer(B, frozenset({ds_of(new)}))),
    )
    assert [(c.key_id, c.kind) for c in confirmations([new, old], both, now)] == [
        (new.key_id, "seen"),
        (old.key_id, "gone"),
    ]
    half = ParentCheck(
        "example.",
        (ServerAnswer(A, frozenset({ds_of(new), ds_of(old)})), ServerAnswer(B, frozenset())),
    )
    assert confirmations([new, old], half, now) == []
    silent = ParentCheck(
        "example.", (ServerAnswer(A, frozenset({ds_of(new)})), ServerAnswer(B, None, "timeout"))
    )
    assert not silent.complete
    assert confirmations([new, old], silent, now) == []

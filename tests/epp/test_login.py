"""The login gate: failure windows per key, forgotten when they pass; session counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tldsec.clock import FakeClock
from tldsec.epp.login import LoginGate


def test_failures_block_until_the_window_passes_and_are_then_forgotten() -> None:
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=UTC))
    gate = LoginGate(clock, max_failures=2, window=timedelta(minutes=5))
    gate.failed("client:a", "peer:1")
    assert not gate.blocked("client:a")
    gate.failed("client:a", "peer:2")
    assert gate.blocked("client:a") and not gate.blocked("peer:1", "peer:2")
    assert gate.tracked() == 3
    clock.advance(timedelta(minutes=5))
    assert not gate.blocked("client:a")
    assert gate.tracked() == 0


def test_sessions_per_registrar() -> None:
    gate = LoginGate(FakeClock(datetime(2024, 1, 1, tzinfo=UTC)), max_sessions=1)
    assert gate.open_session("a") and not gate.open_session("a")
    gate.close_session("a")
    assert gate.open_session("a") and gate.sessions("a") == 1

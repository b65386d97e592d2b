"""Fixtures for the key manager's pure core: the DPS policy, its timing, fresh keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tldsec.keys.rollover import KeyFactory
from tldsec.keys.simulate import fake_key_factory
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy, load_policy

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def policy() -> Policy:
    """The DPS's numbers without its backup gate: these tests are about the rollover
    timing (DPS 6.4), and a key generated here would otherwise wait for an archive that
    no test of the timing makes. The gate is tested with the DPS policy as it is in
    test_backup_gate.py (and through the CLI in tests/cli/test_backup_gate_cli.py)."""
    return dataclasses.replace(load_policy(), backup_before_use=False)


@pytest.fixture
def timing(policy: Policy) -> TimingParams:
    return TimingParams.from_policy(policy)


@pytest.fixture
def factory(policy: Policy) -> Iterator[KeyFactory]:
    """RSA-shaped public keys from a seeded generator (the simulation's own factory)."""
    yield fake_key_factory(policy, seed=7)

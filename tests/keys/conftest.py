"""Fixtures for the key manager's pure core: the DPS policy, its timing, fresh keys."""

from __future__ import annotations

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
    return load_policy()


@pytest.fixture
def timing(policy: Policy) -> TimingParams:
    return TimingParams.from_policy(policy)


@pytest.fixture
def factory(policy: Policy) -> Iterator[KeyFactory]:
    """RSA-shaped public keys from a seeded generator (the simulation's own factory)."""
    yield fake_key_factory(policy, seed=7)

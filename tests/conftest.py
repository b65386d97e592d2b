"""Shared fixtures; each lives in its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.registry",
    "tests.fixtures.epp",
    "tests.fixtures.softhsm",
]

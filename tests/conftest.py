"""Shared fixtures; each lives in its own module under tests/fixtures/."""

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.registry",
    "tests.fixtures.epp",
    "tests.fixtures.softhsm",
]

# Tests never assert on wall time: Hypothesis's per-example deadline and its "input
# generation is slow" health check are timings, and failed under a loaded machine
# (tests/zone/test_builder.py once). Every other health check stays on.
settings.register_profile(
    "tldsec",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("tldsec")

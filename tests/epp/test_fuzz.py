"""Fuzzing the EPP server (hypothesis): random and mutated frames never crash it, every
answer is a well-formed EPP response, and no failed command changes the registry.

Two attackers: an anonymous connection (nothing may ever change), and a logged-in
registrar throwing mutated commands at another registrar's objects (a command that
fails changes nothing; the other registrar's objects never change).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.fixtures.epp import RunningServer
from tldsec.epp.client import EppClient, Response
from tldsec.registry import models
from tldsec.registry.contacts import ContactData, PostalInfo, create_contact
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import HostAddr, create_host

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.xml"))]
ACTING_ON_EXISTING = [
    p.read_bytes()
    for p in sorted(FIXTURES.glob("*.xml"))
    if p.name.startswith(("domain_update", "domain_info", "domain_check", "host_update"))
    or p.name in ("contact_transfer_query.xml", "poll_req_plain.xml")
]
TABLES = [
    m
    for m in vars(models).values()
    if isinstance(m, type)
    and issubclass(m, models.Base)
    and getattr(m, "__tablename__", None) not in (None, "epp_transaction")
]
ALPHA_TABLES = (models.Domain, models.DsRecord, models.DomainNs, models.Host, models.HostAddress)


def snapshot(server: RunningServer, tables: object = TABLES) -> tuple[object, ...]:
    with server.world.db.read() as s:
        return tuple(
            tuple(sorted(tuple(map(repr, r)) for r in s.execute(select(*m.__table__.c)).all()))
            for m in tables  # type: ignore[attr-defined]
        )


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed frame with a few bytes replaced, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "swap-text"]))
        if action == "replace" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and data:
            del data[position : position + draw(st.integers(1, 8))]
        else:
            words = [b"<", b">", b"/", b"&amp;", b"&#0;", b"]]>", b"\xff\xfe", b"\x00", b"-1"]
            data[position:position] = draw(st.sampled_from(words))
    return bytes(data)


frames = st.one_of(
    st.binary(max_size=300),
    mutated(SEEDS),
    st.sampled_from(SEEDS),
)


def well_formed_answer(response: Response) -> int:
    """The result code (0 for a greeting); fails unless the answer is real EPP."""
    if response.is_greeting:
        return 0
    code = response.code
    assert 1000 <= code <= 2502, response.raw[:300]
    assert response.text("epp:response/epp:trID/epp:svTRID")
    return code


@pytest.fixture
def world_with_objects(epp: RunningServer) -> Iterator[RunningServer]:
    with epp.world.db.write() as s:
        tx = epp.world.tx("alpha")
        create_host(s, tx, "ns1.hoster.net")
        create_domain(
            s,
            tx,
            DomainCreate(
                "one.example",
                "2fooBAR",
                ns=("ns1.hoster.net",),
                ds=(DsData.of(12345, 13, 2, "2B" * 32),),
            ),
        )
        create_host(s, tx, "ns1.one.example", [HostAddr("192.0.2.2", 4)])
        create_contact(
            s, tx, ContactData("sh8013", (PostalInfo("int", "J", "D", "US"),), "j@x.test", "pw")
        )
    yield epp


class Session:
    """A connection that reconnects (and logs in again) when the server ends it."""

    def __init__(self, server: RunningServer, login_as: str | None) -> None:
        self.server, self.login_as = server, login_as
        self.client: EppClient | None = None

    def send(self, frame: bytes) -> Response | None:
        if self.client is None:
            self.client = (
                self.server.logged_in(self.login_as) if self.login_as else self.server.client()
            )
        try:
            return self.client.request(frame)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close()
            return None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=frames)
def test_anonymous_garbage_changes_nothing(
    world_with_objects: RunningServer, caplog: pytest.LogCaptureFixture, frame: bytes
) -> None:
    server = world_with_objects
    before = snapshot(server)
    session = Session(server, None)
    try:
        response = session.send(frame)
        if response is not None:
            well_formed_answer(response)  # a mutated login may even succeed: it changes nothing
    finally:
        session.close()
    assert snapshot(server) == before
    with server.client() as probe:
        assert probe.hello().is_greeting
    assert not unexpected_failures(caplog)


@pytest.fixture
def beta_session(world_with_objects: RunningServer) -> Iterator[Session]:
    session = Session(world_with_objects, "beta")
    yield session
    session.close()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=st.one_of(mutated(ACTING_ON_EXISTING), st.sampled_from(ACTING_ON_EXISTING)))
def test_another_registrar_cannot_change_alphas_objects(
    world_with_objects: RunningServer,
    beta_session: Session,
    caplog: pytest.LogCaptureFixture,
    frame: bytes,
) -> None:
    server = world_with_objects
    alpha_before = snapshot(server, ALPHA_TABLES)
    before = snapshot(server)
    response = beta_session.send(frame)
    if response is not None:
        code = well_formed_answer(response)
        if code >= 2000:
            assert snapshot(server) == before, response.message
    assert snapshot(server, ALPHA_TABLES) == alpha_before
    assert not unexpected_failures(caplog)


def unexpected_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Server-side bugs are answered with 2400 and logged; the fuzzer must find none."""
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]

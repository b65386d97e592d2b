"""The operator transfer's pure rules (keys/transfer.py) and its facts on a SQLite signer
database: what is imported and what is refused, the foreign keys in the signing
configuration, the steps' computed times, the handover's checks, the end of our role.

The gaining operator's keys are made by ``cryptography`` and written as DNSKEY lines
by dnspython (``dns.dnssec.make_dnskey``), as its ``.key`` files would say them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dns.dnssec
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.keys.conftest import T0
from tests.keys.test_service import DAY, Recorded
from tldsec.clock import FakeClock
from tldsec.errors import KeyManagementError, TransferRefused
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys import timing, transfer
from tldsec.keys.database import open_signer_db
from tldsec.keys.models import META_ID, SignerMeta
from tldsec.keys.service import KeyManager
from tldsec.keys.state import DsState, KeyState, Role
from tldsec.keys.transfer_service import TransferManager
from tldsec.policy import Policy

ORIGIN = "example."


def dnskey_line(flags: int, bits: int = 0, algorithm: int = 8, owner: str = ORIGIN) -> str:
    if algorithm == 13:
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = ec.generate_private_key(
            ec.SECP256R1()
        )
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    rd = dns.dnssec.make_dnskey(key.public_key(), algorithm, flags=flags)
    return f"{owner} 3600 IN DNSKEY {rd.to_text()}"


@pytest.fixture(scope="module")
def theirs() -> str:
    """The gaining operator's KSK (2048 bits) and ZSK (1024 bits), RSA/SHA-256 as ours."""
    return dnskey_line(257, 2048) + "\n" + dnskey_line(256, 1024) + "\n"


@pytest.fixture
def manager(tmp_path: Path, policy: Policy) -> Iterator[tuple[KeyManager, FakeClock, Recorded]]:
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    clock = FakeClock(T0)
    recorded = Recorded()
    km = KeyManager(engine, MemoryKeyStore(), policy, clock, origin=ORIGIN, recorder=recorded)
    km.bootstrap("tldsec init")
    ksk = next(k for k in km.key_records() if k.role is Role.KSK)
    clock.advance(DAY)
    km.ds_seen(str(ksk.key_tag), "seen")
    yield km, clock, recorded
    engine.dispose()


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("example. IN DNSKEY 256 3 8 @@@", "does not parse"),
        ("example. IN DS 1 8 2 " + "00" * 32, "only DNSKEY lines"),
        (None, "not the zone apex"),  # a key of another zone
        ("example. IN DNSKEY 0 3 8 AwEAAQ==", "not a zone key"),
        ("example. IN DNSKEY 385 3 8 AwEAAQ==", r"neither a ZSK \(256\) nor a KSK"),  # REVOKE
        ("example. IN DNSKEY 256 2 8 AwEAAQ==", "protocol 2 is not 3"),
        ("example. IN DNSKEY 256 3 5 AwEAAQ==", "algorithm 5 is not one tldsec signs with"),
        ("; only a comment", "no DNSKEY line"),
    ],
)
def test_a_malformed_or_non_zone_key_import_is_refused(text: str | None, refusal: str) -> None:
    if text is None:
        text = dnskey_line(256, 1024, owner="other.example.")
    with pytest.raises(TransferRefused, match=refusal):
        transfer.parse_dnskeys(text, ORIGIN, "gaining", T0)


def test_refused_imports_leave_no_transfer(
    manager: tuple[KeyManager, FakeClock, Recorded], theirs: str
) -> None:
    km, _, recorded = manager
    tm = TransferManager(km)
    ours = next(k for k in km.key_records() if k.role is Role.ZSK)
    cases = [
        # RFC 4035 2.2: our zone signs with 8 only, a 13 key would need 13 signatures.
        (dnskey_line(257, algorithm=13) + "\n" + dnskey_line(256, algorithm=13), "algorithm 13"),
        (dnskey_line(257, 2048) + "\n" + dnskey_line(256, 2048), "2048-bit key"),
        (dnskey_line(257, 2048), "no zsk of the gaining operator"),
        (dnskey_line(256, 1024), "no ksk of the gaining operator"),
        (
            dnskey_line(257, 2048)
            + f"\n{ORIGIN} IN DNSKEY 256 3 8 "
            + __import__("base64").b64encode(ours.public_key).decode(),
            "already in the zone's key history",
        ),
    ]
    for text, refusal in cases:
        with pytest.raises(TransferRefused, match=refusal):
            tm.import_dnskeys(text, "gaining", "test")
    assert tm.current() is None
    assert not [e for e, *_ in recorded.entries if e.startswith("key.transfer")]
    config = km.signing_config()
    assert not [k for k in config.keys if k.key_id.startswith("foreign:")]


def test_imported_keys_are_published_sign_nothing_and_hold_new_keys(
    manager: tuple[KeyManager, FakeClock, Recorded], theirs: str, policy: Policy
) -> None:
    km, clock, recorded = manager
    tm = TransferManager(km)
    added = tm.import_dnskeys(theirs, "gaining", "the TLD moves to another operator")
    assert sorted(k.role for k in added) == [Role.KSK, Role.ZSK]
    event, _, details = recorded.entries[-1]
    assert event == "key.transfer_started" and details["operator"] == "gaining"
    with pytest.raises(TransferRefused, match="already in the zone's key history or imported"):
        tm.import_dnskeys(theirs, "gaining", "twice")
    config = km.signing_config()
    foreign = [k for k in config.keys if k.key_id.startswith("foreign:")]
    assert len(foreign) == 2
    assert all(k.publish and not k.sign_dnskey and not k.sign_zone for k in foreign)
    assert {k.dnskey_rdata for k in foreign} <= {k.dnskey_rdata for k in config.published}
    # A second import of another operator is refused while this one is under way.
    with pytest.raises(TransferRefused, match="a transfer to gaining is under way"):
        tm.import_dnskeys(dnskey_line(256, 1024), "someone else", "x")
    # No new key enters the zone meanwhile: at the end of the ZSK's life nothing new is
    # published (the gaining operator's DNSKEY RRset would lack it).
    before = {k.key_tag for k in km.key_records() if k.publishes_at(clock.now())}
    clock.advance(200 * DAY)
    km.run_due()
    after = {k.key_tag for k in km.key_records() if k.publishes_at(clock.now())}
    assert after <= before
    assert any(c.name == "transfer" for s in km.plan().steps for c in s.constraints), (
        km.plan().steps
    )
    # export: our own DNSKEYs (not theirs) and our DS
    out = tm.export()
    assert len(out.dnskey_lines) == len([k for k in config.published]) - 2
    assert [d.key_tag for d in out.ds] == [
        k.key_tag for k in km.key_records() if k.role is Role.KSK
    ]


def test_steps_and_the_handover_rules(
    manager: tuple[KeyManager, FakeClock, Recorded], theirs: str
) -> None:
    km, _, _ = manager
    t = km.timing
    tm = TransferManager(km)
    tm.import_dnskeys(theirs, "gaining", "moving")
    tr = tm.current()
    assert tr is not None
    start = tr.started
    steps = {s.name: s for s in transfer.steps(tr, km.key_records(), t, start)}
    assert steps["theirs-cached"].due == start + timing.zsk_publish_interval(t)
    assert steps["peer-ds"].due is None and steps["peer-ds"].done is None
    assert steps["handover"].due is None  # waits for the peer's DS
    with pytest.raises(TransferRefused, match="not seen at the parent"):
        transfer.check_handover(tr, t, start, peer_served=False)

    seen = start + timedelta(hours=3)
    tr = dataclasses.replace(tr, peer_ds_seen=seen)
    due = max(start + timing.zsk_publish_interval(t), seen + timing.ds_publish_interval(t))
    assert transfer.handover_due(tr, t) == due
    with pytest.raises(TransferRefused, match="too early"):
        transfer.check_handover(tr, t, due - timedelta(seconds=1), peer_served=True)
    with pytest.raises(TransferRefused, match="not seen at the parent"):
        transfer.check_handover(tr, t, due, peer_served=False)  # it left the parent again
    assert transfer.check_handover(tr, t, due, peer_served=True) is tr

    # After the handover: the DS withdrawal waits for the old delegation to leave caches.
    tr = dataclasses.replace(tr, handed_over=due)
    keys = km.key_records()
    early, ended = transfer.after_handover(tr, keys, t, due + transfer.ns_interval(t) / 2)
    assert early.transitions == () and not ended
    at = due + transfer.ns_interval(t)
    withdrawn, ended = transfer.after_handover(tr, keys, t, at)
    assert not ended
    assert [(x.role, x.event.value) for x in withdrawn.transitions] == [
        (Role.KSK, "ds.withdrawal-requested")
    ]
    ksk = next(k for k in withdrawn.keys if k.role is Role.KSK)
    assert ksk.state_at(at) is KeyState.ACTIVE  # still signing until the DS is gone
    steps = {s.name: s for s in transfer.steps(tr, withdrawn.keys, t, at)}
    assert steps["our-ds-withdrawal"].done == at
    assert steps["their-cleanup"].due == at + t.max_zone_ttl + t.propagation_delay + t.safety_margin


def test_the_end_retires_every_key_and_the_cycle_signs_no_more(
    manager: tuple[KeyManager, FakeClock, Recorded], theirs: str
) -> None:
    km, clock, recorded = manager
    tm = TransferManager(km)
    tm.import_dnskeys(theirs, "gaining", "moving")
    # The facts the parent check and the handover record (tested against a real parent
    # in tests/integration/test_transfer_parent.py).
    with km._sessions() as session, session.begin():
        meta = session.get(SignerMeta, META_ID)
        assert meta is not None
        meta.transfer_peer_ds_seen = clock.now()
        meta.transfer_handed_over = clock.now() + 2 * DAY
    with pytest.raises(TransferRefused, match="point of no return"):
        tm.cancel("changed our mind")
    clock.advance(2 * DAY)
    assert km.transfer_step_due() is None  # resolvers may still be sent to us
    clock.advance(transfer.ns_interval(km.timing))
    assert "withdrawal of our DS" in (km.transfer_step_due() or "")
    made = km.run_due()
    assert km.transfer_step_due() is None
    assert [t.event.value for t in made if t.role is Role.KSK] == ["ds.withdrawal-requested"]
    ksk = next(k for k in km.key_records() if k.role is Role.KSK)
    assert ksk.ds_state_at(clock.now()) is DsState.WITHDRAWAL_REQUESTED
    km.signing_config()  # still signed: resolvers may still be sent to us
    clock.advance(DAY)
    assert not [t for t in km.run_due() if t.event.value == "key.retired"]
    km.ds_gone(str(ksk.key_tag), "parent check")
    clock.advance(timedelta(minutes=5))
    assert "the end of our role" in (km.transfer_step_due() or "")
    made = km.run_due()
    live = [k for k in km.key_records() if k.state_at(clock.now()) is not KeyState.REMOVED]
    assert live == []
    assert {t.event.value for t in made} >= {"key.retired", "key.removed"}
    assert recorded.entries[-1][0] == "key.transfer_ended" or any(
        e == "key.transfer_ended" for e, *_ in recorded.entries
    )
    with pytest.raises(TransferRefused, match="signs it no more"):
        km.signing_config()
    clock.advance(30 * DAY)  # nothing brings a key back
    assert km.run_due() == [] and km.plan().steps == ()
    with pytest.raises(TransferRefused, match="our role ended"):
        km.request_rollover(Role.ZSK, "habit")
    steps = {s.name: s for s in tm.status()}
    assert steps["end"].done is not None


def test_cancel_before_the_handover_takes_their_keys_out(
    manager: tuple[KeyManager, FakeClock, Recorded], theirs: str
) -> None:
    km, clock, recorded = manager
    tm = TransferManager(km)
    with pytest.raises(TransferRefused, match="nothing to cancel"):
        tm.cancel("x")
    tm.import_dnskeys(theirs, "gaining", "moving")
    clock.advance(timedelta(hours=1))
    tm.cancel("the buyer withdrew")
    assert tm.current() is None
    assert recorded.entries[-1][0] == "key.transfer_cancelled"
    config = km.signing_config()
    assert not [k for k in config.keys if k.key_id.startswith("foreign:")]
    # the same keys may come back later (their rows are withdrawn, not reused)
    tm.import_dnskeys(theirs, "gaining", "moving after all")
    assert len([k for k in km.signing_config().keys if k.key_id.startswith("foreign:")]) == 2


def test_a_stray_transition_is_still_refused(
    manager: tuple[KeyManager, FakeClock, Recorded],
) -> None:
    """The handover's DS withdrawal of an active KSK is allowed only as the transfer's."""
    km, clock, _ = manager
    ksk = next(k for k in km.key_records() if k.role is Role.KSK)
    from tldsec.keys import state

    with pytest.raises(KeyManagementError, match="active KSK"):
        state.request_ds_withdrawal(ksk, clock.now(), "no")
    new, _ = state.request_ds_withdrawal(ksk, clock.now(), "handed over", handed_over=True)
    assert new.ds_state_at(clock.now()) is DsState.WITHDRAWAL_REQUESTED

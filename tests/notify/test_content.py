"""Each notice kind rendered, queued and sent through a real SMTP server, its content
read back: KSK and ZSK rollovers ahead and done, emergencies, incidents and their end,
a DPS change, DS live, going insecure, an operator transfer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import Message as Mail
from pathlib import Path

import pytest

from tests.notify.smtpserver import Mailbox, smtp_server
from tldsec.audit.config import open_audit_log
from tldsec.audit.entry import Entry
from tldsec.audit.log import AuditLog
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.keys.simulate import simulate
from tldsec.keys.timing import TimingParams
from tldsec.notify import notices as n
from tldsec.notify.notices import Draft
from tldsec.notify.outbox import Outbox
from tldsec.notify.run import Audience, deliver, enqueue
from tldsec.notify.smtp import SmtpConfig
from tldsec.policy import Policy, load_policy
from tldsec.publish.calendar import rollover_calendar
from tldsec.publish.dps import DpsVersion
from tldsec.publish.incidents import incidents
from tldsec.settings import load_settings
from tldsec.settings.tables import NotifyTable

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PEOPLE = Audience(
    registrars={"reg-a": "a@reg.example", "reg-b": "b@reg.example"},
    list_address=("dns-operations@lists.example",),
    operator=("noc@nic.example",),
)
COMMON = {"zone": "example.", "site": "https://nic.example/dnssec/"}


@pytest.fixture
def audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[AuditLog]:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example.", "--keystore", "file"]) == 0
    capsys.readouterr()
    log = open_audit_log(load_settings(home), SystemClock())
    yield log
    log.close()


@pytest.fixture
def policy() -> Policy:
    return dataclasses.replace(load_policy(), backup_before_use=False)


def entry(
    seq: int, when: datetime, event: str, actor: str = "component:cycle", **d: object
) -> Entry:
    return Entry(seq, when, actor, event, "error", d, "0" * 64, "1" * 64)


def send_all(drafts: list[Draft], tmp_path: Path, audit: AuditLog) -> dict[str, list[Mail]]:
    box = Mailbox()
    outbox = Outbox(tmp_path / "spool")
    now = SystemClock().now()
    enqueue(outbox, drafts, PEOPLE, COMMON, now, audit)
    with smtp_server(box) as port:
        config = SmtpConfig("127.0.0.1", port, "none", "dnssec@nic.example", timeout=10)
        sent, retrying, failed = deliver(outbox, config, NotifyTable(), now, audit)
    assert retrying == [] and failed == []
    out: dict[str, list[Mail]] = {}
    for m in box.messages:
        out.setdefault(str(m["X-Tldsec-Notice"]), []).append(m)
    assert len(sent) == len(box.messages)
    return out


def text(m: Mail) -> str:
    payload = m.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def test_rollovers_ahead_done_and_emergencies(
    policy: Policy, tmp_path: Path, audit: AuditLog
) -> None:
    timing = TimingParams.from_policy(policy)
    # ahead: 300 days in, both the KSK (365 days) and a ZSK roll fall within 100 days
    keys = simulate(policy, timing, T0, 300).keys
    now = T0 + timedelta(days=300)
    ahead = timedelta(days=100)
    cal = rollover_calendar(keys, policy, timing, now, 101)
    drafts = n.rollover_notices(keys, cal, now, ahead, origin="example.")
    # done: the first ZSK roll, a day after it
    later = simulate(policy, timing, T0, 92).keys
    first_zsk = next(k for k in later if k.role == "zsk" and k.retired is not None)
    assert first_zsk.retired is not None
    done_at = first_zsk.retired + timedelta(days=1)
    drafts += n.rollover_notices(later, [], done_at, ahead, origin="example.")
    # an emergency KSK rollover
    hit = simulate(policy, timing, T0, 6, emergency_ksk_at=5).keys
    drafts += n.rollover_notices(hit, [], T0 + timedelta(days=5, hours=1), ahead, origin="example.")
    mails = send_all(drafts, tmp_path, audit)

    [ksk_ahead] = [k for k in mails if k.startswith("rollover-ahead:ksk:")]
    m = mails[ksk_ahead][0]
    assert str(m["Subject"]).strip().startswith("[example.] KSK rollover in ")
    assert "submitted to IANA for the root zone" in text(m)
    assert "trust anchor for example." in text(m)
    zsk_ahead = [k for k in mails if k.startswith("rollover-ahead:zsk:")]
    assert zsk_ahead and "nothing needs to be done" in text(mails[zsk_ahead[0]][0])
    done = mails[f"rollover-done:zsk:{first_zsk.key_tag}:example."]
    assert str(done[0]["Subject"]).strip() == (
        f"[example.] ZSK rollover done: key {first_zsk.key_tag} no longer signs"
    )
    assert "https://nic.example/dnssec/" in text(done[0])
    [emergency] = [k for k in mails if k.startswith("emergency:ksk:")]
    body = text(mails[emergency][0])
    assert "DPS 4.5.3" in body and "A new DS is being submitted to IANA" in body
    # every public notice went to every registrar, the list and the operator, one each
    for notice, got in mails.items():
        assert sorted(str(x["To"]) for x in got) == [
            "a@reg.example", "b@reg.example", "dns-operations@lists.example",
            "noc@nic.example",
        ], notice  # fmt: skip


def test_incidents_dps_change_and_ds_live(tmp_path: Path, audit: AuditLog) -> None:
    now = T0 + timedelta(hours=3)
    found = incidents(
        [
            entry(1, T0, "hsm.replica_mismatch", hsm="site2", key="ksk 1234"),
            entry(2, T0 + timedelta(hours=1), "hsm.replica_proven"),
        ]
    )
    versions = [DpsVersion("2.0", date(2026, 1, 20), "text", "KSK algorithm 13")]
    served = [
        n.ServedChange("SV-5", "reg-b", "shop.example", 2026010102, T0,
                       T0 + timedelta(minutes=20, seconds=7),
                       added=("4321 13 2 " + "AB" * 32,), removed=("1111 8 2 " + "CD" * 32,)),
    ]  # fmt: skip
    drafts = [
        *n.incident_notices(found, now),
        *n.dps_notices(versions, now, timedelta(days=30)),
        *n.ds_live_notices(served, ["reg-b"], now),
    ]
    mails = send_all(drafts, tmp_path, audit)
    began = text(mails["incident:1"][0])
    assert "an HSM lacks a key of the zone or holds a different one" in began
    assert "site2" not in began and "1234" not in began
    assert (
        str(mails["incident-ended:1"][0]["Subject"]).strip()
        == "[example.] DNSSEC incident incident-1 ended"
    )
    dps = mails["dps-change:2.0"][0]
    assert str(dps["Subject"]).strip() == (
        "[example.] DNSSEC Policy Statement version 2.0 takes effect on 2026-01-20"
    )
    assert "in 18 days" in text(dps) and "What changes: KSK algorithm 13" in text(dps)
    assert "https://nic.example/dnssec/dps-2.0.html" in text(dps)
    [live] = mails["ds-live:SV-5"]
    assert str(live["To"]) == "b@reg.example"
    assert "serial 2026010102" in str(live["Subject"]).strip()
    assert "served by all secondaries at 2026-01-01T00:20:07Z" in " ".join(text(live).split())
    assert "added:   4321 13 2 " in text(live) and "removed: 1111 8 2 " in text(live)


def test_an_address_with_a_line_break_is_never_sent_as_written(
    tmp_path: Path, audit: AuditLog
) -> None:
    people = dataclasses.replace(
        PEOPLE, registrars={"reg-x": "x@reg.example\nBcc: everyone@evil.example"}
    )
    draft = n.dps_notices([DpsVersion("2.0", date(2026, 1, 20), "t")], T0, timedelta(days=30))
    box = Mailbox()
    outbox = Outbox(tmp_path / "spool")
    now = SystemClock().now()
    enqueue(outbox, draft, people, COMMON, now, audit)
    with smtp_server(box) as port:
        config = SmtpConfig("127.0.0.1", port, "none", "dnssec@nic.example", timeout=10)
        sent, retrying, failed = deliver(outbox, config, NotifyTable(), now, audit)
    assert len(sent) == 2 and retrying == []  # the list and the operator
    # given up at once (it can never be sent), not retried for two days
    assert [m.recipient for m in failed] == ["x@reg.example\nBcc: everyone@evil.example"]
    assert "not sent" in failed[0].last_error
    assert all("everyone@evil.example" not in rcpt for _, rcpts in box.envelopes
               for rcpt in rcpts)  # fmt: skip


def test_going_insecure_and_its_cancel_are_announced_publicly(
    tmp_path: Path, audit: AuditLog
) -> None:
    """DPS 4.6: the removal of DNSSEC takes place "with public notification"."""
    entries = [
        entry(7, T0, "key.go_insecure_requested", "operator:ann", reason="TLD handed back",
              ds_withdrawal_requested=[20326]),
        entry(9, T0 + timedelta(days=2), "key.go_insecure_cancelled", "operator:ann",
              reason="kept after all", rollover_requested=[20326]),
        entry(3, T0 - timedelta(days=30), "key.go_insecure_requested", reason="old"),
        entry(11, T0 + timedelta(days=3), "key.zone_unsigned", reason="TLD handed back",
              since=(T0 + timedelta(days=3)).isoformat()),
    ]  # fmt: skip
    drafts = n.go_insecure_notices(entries, T0 + timedelta(days=3))
    # not the old one
    assert [d.id for d in drafts] == ["go-insecure:7", "go-insecure:9", "go-insecure:11"]
    mails = send_all(drafts, tmp_path, audit)
    [start, *_] = mails["go-insecure:7"]
    assert str(start["Subject"]).strip() == "[example.] DNSSEC for example. is being ended in order"
    body = text(start)
    assert "Reason: TLD handed back" in body and "KSK 20326" in body
    assert "withdrawn from the parent zone first" in body and "trust anchor" in body
    [cancel, *_] = mails["go-insecure:9"]
    assert "going insecure cancelled" in str(cancel["Subject"])
    assert "The zone stays signed" in text(cancel)
    [unsigned, *_] = mails["go-insecure:11"]  # decision 46: the last step is announced too
    assert "has ended: the zone is unsigned" in str(unsigned["Subject"])
    body = text(unsigned)
    assert "published unsigned" in body and "never bogus" in body and "fresh" in body
    assert "The zone stays signed" not in body and "is being ended" not in body
    assert sorted(str(x["To"]) for x in mails["go-insecure:7"]) == [
        "a@reg.example", "b@reg.example", "dns-operations@lists.example", "noc@nic.example",
    ]  # fmt: skip


def test_the_last_step_of_going_insecure_is_not_announced_as_a_rollover(policy: Policy) -> None:
    """Decision 46: the keys retire and leave at one instant when the zone goes unsigned;
    the go-insecure notice says so, no rollover-ahead or rollover-done notice does."""
    timing = TimingParams.from_policy(policy)
    sim = simulate(policy, timing, T0, 10, go_insecure_at=1)
    assert sim.unsigned_at is not None
    ahead = timedelta(days=30)
    # Before the last step: the calendar (going insecure) shows it, no rollover notice.
    before = sim.unsigned_at - timedelta(days=1)
    keys_then = simulate(policy, timing, T0, 2, go_insecure_at=1).keys
    cal = rollover_calendar(keys_then, policy, timing, T0 + timedelta(days=2), 30,
                            insecure_since=T0 + timedelta(days=1))  # fmt: skip
    assert any(c.event == "key.retired" for c in cal)
    assert [
        d.id for d in n.rollover_notices(keys_then, cal, before, ahead, origin="example.")
    ] == []
    # After it: the retired keys are not "rollovers done".
    after = sim.unsigned_at + timedelta(hours=1)
    assert [d.id for d in n.rollover_notices(sim.keys, [], after, ahead, origin="example.")] == []


def test_an_operator_transfer_is_announced_at_each_step(tmp_path: Path, audit: AuditLog) -> None:
    """DPS 4.6 "as smooth as possible": the start (the first import), the handover, the
    end of our role, and a cancel, each once; a second import is not a new start."""
    entries = [
        entry(4, T0, "key.transfer_started", "operator:ann", operator="newco", reason="sale",
              imported=["KSK 11111 algorithm 8", "ZSK 22222 algorithm 8"]),
        entry(5, T0 + timedelta(hours=1), "key.transfer_started", "operator:ann",
              operator="newco", reason="their second ZSK", imported=["ZSK 33333 algorithm 8"]),
        entry(8, T0 + timedelta(days=3), "key.transfer_handed_over", "operator:ann",
              operator="newco", reason="contract date"),
        entry(9, T0 + timedelta(days=6), "key.transfer_ended", "component:cycle",
              operator="newco"),
    ]  # fmt: skip
    drafts = n.transfer_notices(entries, T0 + timedelta(days=6))
    assert [d.id for d in drafts] == [
        "operator-transfer:4", "operator-transfer:8", "operator-transfer:9",
    ]  # fmt: skip
    # An old start outside the lookback is not announced, its continuation neither.
    assert [d.id for d in n.transfer_notices(entries[:2], T0 + timedelta(days=30))] == []
    mails = send_all(drafts, tmp_path, audit)
    [start, *_] = mails["operator-transfer:4"]
    subject = str(start["Subject"]).strip()
    assert subject == "[example.] The operation of example. moves to newco, signed throughout"
    body = " ".join(text(start).split())
    assert "Reason: sale" in body and "KSK 11111 algorithm 8; ZSK 22222 algorithm 8" in body
    assert "never insecure" in body and "trust anchor" in body
    [handover, *_] = mails["operator-transfer:8"]
    assert "handed over to newco: the delegation moves" in str(handover["Subject"])
    assert "newco's name servers only" in " ".join(text(handover).split())
    [end, *_] = mails["operator-transfer:9"]
    assert "Our role for example. has ended: newco operates the zone" in str(end["Subject"])
    assert "we sign the zone no more" in " ".join(text(end).split())
    assert sorted(str(x["To"]) for x in mails["operator-transfer:9"]) == [
        "a@reg.example", "b@reg.example", "dns-operations@lists.example", "noc@nic.example",
    ]  # fmt: skip


def test_transfer_notices_from_the_transfers_own_records(
    tmp_path: Path, audit: AuditLog, policy: Policy
) -> None:
    """The records ``keys transfer`` writes make the notices: a start, its cancel (once
    announced, a cancel is too), a new start; a second import of it is no new start."""
    from tests.keys.test_transfer import dnskey_line
    from tldsec.keys.database import open_signer_db
    from tldsec.keys.service import KeyManager
    from tldsec.keys.transfer_service import TransferManager
    from tldsec.notify.run import due_notices

    settings = load_settings(tmp_path / "home")
    engine = open_signer_db(settings.signer_db_url)
    clock = SystemClock()
    try:
        km = KeyManager(
            engine, None, settings.policy, clock, origin=settings.origin, recorder=audit.record
        )
        tm = TransferManager(km)
        ksk, zsk = dnskey_line(257, 2048), dnskey_line(256, 1024)
        tm.import_dnskeys(ksk + "\n" + zsk, "newco", "sale")
        tm.cancel("the sale fell through")
        tm.import_dnskeys(dnskey_line(257, 2048) + "\n" + dnskey_line(256, 1024), "other", "sold")
        tm.import_dnskeys(dnskey_line(256, 1024), "other", "their standby ZSK")
        drafts = [
            d
            for d in due_notices(settings, engine, audit, clock.now())
            if d.kind is n.NoticeKind.OPERATOR_TRANSFER
        ]
    finally:
        engine.dispose()
    assert [(d.context["stage"], d.context["operator"]) for d in drafts] == [
        ("started", "newco"), ("cancelled", "newco"), ("started", "other"),
    ]  # fmt: skip
    mails = send_all(drafts, tmp_path, audit)
    [cancel, *_] = mails[drafts[1].id]
    assert str(cancel["Subject"]).strip() == "[example.] The move of example. to newco is cancelled"
    assert "Reason: the sale fell through" in text(cancel)

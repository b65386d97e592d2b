"""``notify run`` on a home made by ``tldsec init``, against a real SMTP server: every
notice kind's content, one message per recipient, retries with back-off after refusals,
each sent message in the audit log with its Message-ID."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message as Mail
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fixtures.registry import RegistryWorld
from tests.notify.smtpserver import PASSWORD, USER, Mailbox, make_ca, smtp_server
from tldsec.audit.config import open_audit_log
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock
from tldsec.cycle import trace
from tldsec.keys.database import open_signer_db
from tldsec.notify.outbox import FAILED, SENT, WAITING, Outbox
from tldsec.notify.run import Report, run_once
from tldsec.notify.served import served_ds_changes
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.ds_update import DsUpdate, update_ds
from tldsec.registry.hosts import create_host
from tldsec.registry.models import ZoneChange
from tldsec.settings import load_settings

DPS = Path(__file__).parents[1] / "fixtures" / "dps-model.txt"
REGISTRARS = {"reg-a": "a@reg.example", "reg-b": "b@reg.example"}
# The DPS change and the ZSK roll to the operator; incidents to nobody (this machine's
# clock may be unsynchronised, which is an incident: the count would depend on it).
ONLY_OPERATOR = (
    '[notify.recipients]\ndps-change = ["operator"]\nrollover-ahead = ["operator"]\n'
    "incident = []\nincident-ended = []\n"
)


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    capsys.readouterr()
    return path


def configure(
    home: Path, port: int, extra: str = "", *, security: str = "none", host: str = "127.0.0.1"
) -> None:
    (home / "dps.txt").write_text(DPS.read_text("utf-8"), "utf-8")
    soon = (SystemClock().now() + timedelta(days=10)).date().isoformat()
    with (home / "tldsec.toml").open("a", encoding="utf-8") as f:
        f.write(f"""
[publish]
base_url = "https://nic.example/dnssec"

[[publish.dps]]
version = "1.0"
file = "dps.txt"
effective = "2020-01-01"

[[publish.dps]]
version = "2.0"
file = "dps.txt"
effective = "{soon}"
summary = "KSK algorithm 13"

[notify]
smtp_host = "{host}"
smtp_port = {port}
security = "{security}"
sender = "dnssec@nic.example"
operator = ["noc@nic.example"]
list_address = ["dns-operations@lists.example"]
ds_live_registrars = ["reg-a"]
rollover_notice_days = 100
retry_seconds = 60
retry_max_seconds = 150
max_attempts = 4
{extra}
""")


def record(home: Path, *events: tuple[str, str, dict[str, object]]) -> None:
    settings = load_settings(home)
    log = open_audit_log(settings, SystemClock())
    try:
        for event, actor, details in events:
            log.record(event, actor=actor, **details)
    finally:
        log.close()


def run(home: Path, now: datetime) -> Report:
    settings = load_settings(home)
    registry = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        served = served_ds_changes(registry, now - timedelta(days=7))
    finally:
        registry.dispose()
    engine = open_signer_db(settings.signer_db_url)
    log = open_audit_log(settings, SystemClock())
    try:
        return run_once(settings, engine, REGISTRARS, log, now, served=served)
    finally:
        log.close()
        engine.dispose()


def served_ds_change(home: Path, client_id: str, domain: str, ds: DsData, serial: int) -> str:
    """A DS change by ``client_id`` in the home's registry, traced into ``serial`` and
    that serial live (the rows the cycle's trace writer and the live pass write); its
    svTRID."""
    settings = load_settings(home)
    registry = RegistryDatabase.from_url(settings.registry_db_url)
    world = RegistryWorld(registry, clock=FakeClock(SystemClock().now()))
    try:
        world.add_registrar(client_id)
        with registry.write() as s:
            create_host(s, world.tx(client_id), f"ns1.{client_id}.net")
            create_domain(
                s, world.tx(client_id), DomainCreate(domain, "pw-1", ns=(f"ns1.{client_id}.net",))
            )
        tx = world.tx(client_id)
        with registry.write() as s:
            assert update_ds(s, tx, DsUpdate(domain, add=(ds,)))
        with registry.read() as s:
            last = max(s.scalars(select(ZoneChange.id)))
        at = world.clock.now()
        included = trace.Included(after=0, upto=last)
        trace.record(registry, 1, serial, included, [("published", at)])  # zone 1: example.
        trace.record(registry, 1, serial, None, [("live", at)])
    finally:
        registry.dispose()
    return tx.sv_trid


def by_notice(box: Mailbox) -> dict[str, list[Mail]]:
    out: dict[str, list[Mail]] = {}
    for m in box.messages:
        out.setdefault(str(m["X-Tldsec-Notice"]), []).append(m)
    return out


def body(m: Mail) -> str:
    payload = m.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


@pytest.fixture
def box() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        yield mailbox, port


def test_every_kind_of_notice_reaches_its_recipients_with_its_content(
    home: Path, box: tuple[Mailbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    mailbox, port = box
    configure(home, port, '[notify.recipients]\nincident = ["list", "operator"]\n')
    code = main(["keys", "rollover", "--home", str(home), "--zsk", "--emergency",
                 "--reason", "leaked", "--yes"])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    start = SystemClock().now()
    record(
        home,
        ("cycle.failed", "component:cycle", {"error": "/srv/x: disk full"}),
        ("zone.published", "component:distributor", {"serial": 2026120701}),
    )  # fmt: skip
    ds = DsData.of(12345, 13, 2, "AB" * 32)
    served_ds_change(home, "reg-a", "shop.example", ds, 2026120702)
    served_ds_change(home, "reg-b", "b.example", ds, 2026120702)
    record(home, ("cycle.completed", "component:cycle",
                  {"serial": 2026120702, "milliseconds": {"build": 0}}))  # fmt: skip
    report = run(home, SystemClock().now())
    assert report.failed == () and report.retrying == () and report.waiting == 0
    mails = by_notice(mailbox)
    public = ["a@reg.example", "b@reg.example", "dns-operations@lists.example", "noc@nic.example"]

    def to(notice: str) -> list[str]:
        return sorted(str(m["To"]) for m in mails[notice])

    [emergency] = [n for n in mails if n.startswith("emergency:zsk:")]
    tag = emergency.split(":")[2]  # emergency:zsk:TAG:ZONE (decision 72)
    assert to(emergency) == public
    first = mails[emergency][0]
    assert f"EMERGENCY ZSK rollover: key {tag}" in str(first["Subject"]).strip()
    assert "DPS 4.5.3" in body(first)
    [ahead] = [n for n in mails if n.startswith("rollover-ahead:")]
    assert "ZSK rollover in" in str(mails[ahead][0]["Subject"]).strip() and to(ahead) == public
    # (this machine's clock may be unsynchronised: that is an incident too)
    [incident] = [
        n for n in mails if n.startswith("incident:") and "zone cycle" in body(mails[n][0])
    ]
    assert to(incident) == ["dns-operations@lists.example", "noc@nic.example"]
    text = body(mails[incident][0])
    assert "a zone cycle failed" in text and "disk full" not in text  # no internal details
    ended = "incident-ended:" + incident.split(":")[1]
    assert "Zone serial 2026120701 is published." in body(mails[ended][0])
    dps = mails["dps-change:2.0"]
    assert sorted(str(m["To"]) for m in dps) == public
    assert "version 2.0 takes effect on" in str(dps[0]["Subject"]).strip()
    assert "KSK algorithm 13" in body(dps[0])
    assert "https://nic.example/dnssec/dps-2.0.html" in body(dps[0])
    [live] = [n for n in mails if n.startswith("ds-live:")]
    assert to(live) == ["a@reg.example"]  # reg-b did not opt in
    assert str(mails[live][0]["Subject"]).strip() == (
        "[example.] DS change for shop.example is live in serial 2026120702, served by all "
        "secondaries"
    )
    assert f"added:   {ds}" in body(mails[live][0])
    # each sent message is in the audit log with its Message-ID
    settings = load_settings(home)
    log = open_audit_log(settings, SystemClock())
    try:
        sent = list(iter_entries(log.engine, EntryFilter(events=("notice.sent",))))
    finally:
        log.close()
    assert sorted(e.details["message_id"] for e in sent) == sorted(
        str(m["Message-ID"]) for m in mailbox.messages
    )
    # a second run makes nothing again
    again = run(home, SystemClock().now())
    assert again.queued == () and len(mailbox.messages) == len(sent)
    assert start <= SystemClock().now()


def test_a_refusing_server_is_retried_with_back_off_then_accepts(
    home: Path, box: tuple[Mailbox, int]
) -> None:
    mailbox, port = box
    configure(home, port, ONLY_OPERATOR)
    mailbox.refuse = 2 * 2  # two messages (the DPS change, the ZSK roll), refused twice each
    now = SystemClock().now()
    first = run(home, now)
    assert len(first.queued) == 2 and len(first.retrying) == 2 and mailbox.messages == []
    assert {m.next_attempt - now for m in first.retrying} == {timedelta(seconds=60)}
    assert run(home, now + timedelta(seconds=59)).retrying == ()  # not due: not tried
    second = run(home, now + timedelta(seconds=60))
    assert {m.next_attempt - now for m in second.retrying} == {timedelta(seconds=180)}
    assert run(home, now + timedelta(seconds=179)).sent == ()
    third = run(home, now + timedelta(seconds=180))
    assert len(third.sent) == 2 and third.waiting == 0
    assert all(m.attempts == 3 for m in third.sent)
    assert len(mailbox.messages) == 2 and mailbox.refused == 4
    outbox = Outbox(home / "notify")
    assert list(outbox.messages(WAITING)) == [] and len(list(outbox.messages(SENT))) == 2


def test_a_message_is_given_up_after_max_attempts_and_audited(
    home: Path, box: tuple[Mailbox, int]
) -> None:
    mailbox, port = box
    configure(home, port, ONLY_OPERATOR)
    mailbox.refuse = 1000
    now = SystemClock().now()
    for seconds in (0, 60, 180, 330):  # waits 60, 120, then the 150 s ceiling
        report = run(home, now + timedelta(seconds=seconds))
    assert len(report.failed) == 2 and report.waiting == 0
    assert all("451" in m.last_error for m in report.failed)
    assert len(list(Outbox(home / "notify").messages(FAILED))) == 2
    settings = load_settings(home)
    log = open_audit_log(settings, SystemClock())
    try:
        failed = list(iter_entries(log.engine, EntryFilter(events=("notice.failed",))))
    finally:
        log.close()
    assert sorted(e.details["notice"] for e in failed)[0] == "dps-change:2.0"


def test_the_cli_sends_over_starttls_with_auth(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = make_ca(tmp_path)
    (home / "smtp-password").write_text(PASSWORD + "\n")
    mailbox = Mailbox()
    with smtp_server(mailbox, tls=ca, auth=True) as port:
        configure(
            home, port,
            f'ca_file = "{ca.ca_file}"\nusername = "{USER}"\n'
            'password_source = "file:smtp-password"\n'
            '[notify.recipients]\ndps-change = ["list"]\nrollover-ahead = ["list"]\n'
            "incident = []\nincident-ended = []\n",
            security="starttls",
        )  # fmt: skip
        code = main(["notify", "run", "--home", str(home), "--json"])
        out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["sent"]) == 2 and out["waiting"] == 0
    assert sorted(s["message_id"] for s in out["sent"]) == sorted(
        str(m["Message-ID"]) for m in mailbox.messages
    )
    assert main(["notify", "list", "--home", str(home)]) == 0
    assert capsys.readouterr().out.count("sent ") == 2


def test_no_server_configured_keeps_notices_waiting(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(home, 25, host="")
    code = main(["notify", "run", "--home", str(home)])
    out = capsys.readouterr().out
    assert code == 0 and "no [notify] smtp_host: nothing is sent" in out
    assert len(list(Outbox(home / "notify").messages(WAITING))) > 0


def test_status_shows_the_outbox(
    home: Path, box: tuple[Mailbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    mailbox, port = box
    assert main(["status", "--home", str(home), "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["notices"] is None  # no outbox yet
    configure(home, port, ONLY_OPERATOR)
    mailbox.refuse = 1000
    now = SystemClock().now()
    for seconds in (0, 60, 180, 330):
        run(home, now + timedelta(seconds=seconds))
    main(["status", "--home", str(home)])
    out = capsys.readouterr().out
    assert "notices         2 GIVEN UP, 0 waiting, 0 sent (tldsec notify list)" in out

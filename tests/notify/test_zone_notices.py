"""Rollover notices of two zones (issue 19, decision 72): the same key tag in two zones
makes two notices, each once; a notice queued before ids named the zone is not queued
again for its zone, and does not hold back the other zone's; ``notify list --zone``."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tldsec.audit.log import AuditLog
from tldsec.audit.schema import upgrade
from tldsec.cli.main import main
from tldsec.clock import FakeClock
from tldsec.db.base import make_engine
from tldsec.keys.simulate import simulate
from tldsec.keys.timing import TimingParams
from tldsec.notify.notices import rollover_notices
from tldsec.notify.outbox import SENT, Message, Outbox, zone_of
from tldsec.notify.run import Audience, enqueue
from tldsec.policy import load_policy
from tldsec.publish.calendar import rollover_calendar

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_same_key_tag_in_two_zones_is_two_notices_each_once(tmp_path: Path) -> None:
    policy = dataclasses.replace(load_policy(), backup_before_use=False)
    timing = TimingParams.from_policy(policy)
    keys = simulate(policy, timing, T0, 1).keys  # the same keys, so the same tags
    zsk = next(k for k in keys if k.role == "zsk" and k.active is not None)
    now = zsk.active + policy.zsk.lifetime - timedelta(days=6)  # type: ignore[operator]
    cal = rollover_calendar(keys, policy, timing, now, 8)
    ahead = timedelta(days=7)
    example = rollover_notices(keys, cal, now, ahead, origin="example.")
    shop = rollover_notices(keys, cal, now, ahead, origin="shop.")
    assert [d.id for d in example] == [f"rollover-ahead:zsk:{zsk.key_tag}:example."]
    assert [d.id for d in shop] == [f"rollover-ahead:zsk:{zsk.key_tag}:shop."]
    assert example[0].before == shop[0].before == f"rollover-ahead:zsk:{zsk.key_tag}"

    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    audit = AuditLog(engine, FakeClock(now), signer=None)
    outbox = Outbox(tmp_path / "spool")
    people = Audience({}, ("list@example.test",), ())
    # A one-zone home sent example.'s notice under the id without the zone.
    (old,) = enqueue(
        outbox, [dataclasses.replace(example[0], id=str(example[0].before), before=None)],
        people, {"zone": "example.", "site": ""}, now, audit,
    )  # fmt: skip
    outbox.move(old, SENT)
    assert zone_of(old) == "example."
    again = enqueue(outbox, example, people, {"zone": "example.", "site": ""}, now, audit)
    assert again == []  # the same notice: not sent twice after the upgrade
    (new,) = enqueue(outbox, shop, people, {"zone": "shop.", "site": ""}, now, audit)
    assert (new.notice, zone_of(new)) == (f"rollover-ahead:zsk:{zsk.key_tag}:shop.", "shop.")
    assert enqueue(outbox, shop, people, {"zone": "shop.", "site": ""}, now, audit) == []


def test_notify_list_has_a_section_per_zone_and_takes_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example.", "--keystore", "file"]) == 0
    toml = home / "tldsec.toml"
    toml.write_text(
        toml.read_text().replace(
            '[zone]\norigin = "example."\n', "[zones.example]\n\n[zones.shop]\n"
        )
    )
    outbox = Outbox(home / "notify")
    for notice, zone in (("rollover-ahead:zsk:1:example.", "example."), ("dps-change:2", "shop.")):
        outbox.add([Message(notice, "k", "noc@x.test", f"[{zone}] s", "b", T0, T0)])
    capsys.readouterr()
    assert main(["notify", "list", "--home", str(home)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "example.: 1 message" and "rollover-ahead:zsk:1:example." in out[1]
    assert out[2] == "shop.: 1 message" and "dps-change:2" in out[3]
    assert main(["notify", "list", "--home", str(home), "--zone", "shop", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["zone"], r["notice"]) for r in rows] == [("shop.", "dps-change:2")]
    assert main(["notify", "list", "--home", str(home), "--zone", "club"]) != 0
    assert "club. is not a zone of this home" in capsys.readouterr().err

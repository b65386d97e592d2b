"""``tldsec keys go-insecure`` (DPS 4.6) under [ceremony] required: refused without its
ceremony, accepted with it; plan and status show where it stands; --cancel goes back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.test_ceremony import Room, found
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock


@pytest.fixture
def room(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Room]:
    home = tmp_path / "home"
    argv = ["init", "--home", str(home), "--origin", "example", "--keystore", "file"]
    assert main(argv) == 0
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write('\n[ceremony]\nrequired = "all"\n')
    room = Room(home, capsys)
    found(room)
    yield room


def ksk_tag(room: Room) -> int:
    keys = json.loads(room.ok("keys", "list", "--json"))
    return int(next(k["key_tag"] for k in keys if k["role"] == "ksk"))


def test_go_insecure_under_a_ceremony_then_cancel(room: Room) -> None:
    tag = ksk_tag(room)
    err = room.refused("keys", "go-insecure", "--reason", "handover")
    assert "keys.go-insecure" in err and "ceremony" in err
    assert room.events("key.go_insecure_requested") == []
    # The ceremony for the cancel does not authorise going insecure.
    wrong = room.ceremony("keys.go-insecure", ("ann", "cho"), "cancel=yes")
    err = room.refused("keys", "go-insecure", "--reason", "handover", "--ceremony", wrong)
    assert "cancel" in err
    ceremony = room.ceremony("keys.go-insecure", ("ann", "cho"), "cancel=no")
    out = room.ok("keys", "go-insecure", "--reason", "handover", "--ceremony", ceremony)
    assert "ds.withdrawal-requested" in out and f"ksk {tag}" in out
    assert "stop signing: publish the zone unsigned" in out and "(waits for ds-gone)" in out
    (requested,) = room.events("key.go_insecure_requested")
    assert requested["details"]["ds_withdrawal_requested"] == [tag]  # type: ignore[index]
    # Used once: the same ceremony cannot start it again.
    room.refused("keys", "go-insecure", "--reason", "again", "--ceremony", ceremony)

    plan = room.ok("keys", "plan")
    assert "stop signing: publish the zone unsigned, retire every key" in plan
    assert f"the DS of ksk {tag} confirmed gone from the parent zone" in plan
    _, out, _ = room.run("status")
    assert "GOING INSECURE" in out and "stop of signing waits for ds-gone" in out
    _, out, _ = room.run("status", "--json")
    report = json.loads(out)
    assert report["going_insecure"]["reason"] == "handover"
    assert report["going_insecure"]["waiting_for"] == "ds-gone"
    assert any("going insecure" in p for p in report["health"]["problems"])

    room.ok("keys", "ds-gone", str(tag), "--reason", "IANA removed it")
    steps = json.loads(room.ok("keys", "plan", "--json"))
    unsign = next(s for s in steps if s["action"] == "unsign")
    assert unsign["waiting_for"]["name"] == "ds-expired" and unsign["due"] is not None

    ceremony = room.ceremony("keys.go-insecure", ("amy", "cho"), "cancel=yes")  # DPS 4.3.4
    out = room.ok(
        "keys", "go-insecure", "--cancel", "--reason", "keep DNSSEC", "--ceremony", ceremony
    )
    assert "key.rollover-requested" in out and "going insecure cancelled" in out
    assert len(room.events("key.go_insecure_cancelled")) == 1
    assert "unsign" not in room.ok("keys", "plan", "--json")
    _, out, _ = room.run("status", "--json")
    assert json.loads(out)["going_insecure"] is None


def test_after_the_last_step_plan_and_status_say_unsigned_and_cancel_names_the_fresh_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision 46: the wall clock leaps (a FakeClock behind SystemClock) past the wait;
    'keys run' takes the last step, then the commands say where the zone stands."""
    clock = FakeClock(SystemClock().now())
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now())
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
    room = Room(home, capsys)
    tag = ksk_tag(room)
    room.ok("keys", "ds-seen", str(tag), "--reason", "IANA published it")
    clock.advance(timedelta(hours=1))
    room.ok("keys", "go-insecure", "--reason", "handover")
    clock.advance(timedelta(hours=1))
    room.ok("keys", "ds-gone", str(tag), "--reason", "IANA removed it")
    steps = json.loads(room.ok("keys", "plan", "--json"))
    due = datetime.fromisoformat(next(s for s in steps if s["action"] == "unsign")["due"])
    clock.set(due)
    out = room.ok("keys", "run")
    assert f"ksk {tag}" in out and "key.removed" in out
    assert "the zone is unsigned since" in room.ok("keys", "plan")
    assert json.loads(room.ok("keys", "plan", "--json")) == []
    _, out, _ = room.run("status")
    assert "UNSIGNED" in out and "fresh start" in out and "GOING INSECURE" not in out
    _, out, _ = room.run("status", "--json")
    report = json.loads(out)
    assert report["going_insecure"]["unsigned_since"] == due.isoformat()
    assert not any("going insecure" in p for p in report["health"]["problems"])
    err = room.refused("keys", "go-insecure", "--cancel", "--reason", "keep DNSSEC")
    assert "cannot be cancelled" in err and "fresh start" in err
    assert room.events("key.zone_unsigned")

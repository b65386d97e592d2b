"""Guards against collapse (issue 13, attack 1's publish half): a registry that is
suddenly empty -- a fresh database after a configuration slip -- must not publish an
empty TLD. The change is held (not published, an incident in the audit log and in
``tldsec status``) until an operator accepts exactly that change, under a ceremony
where the home requires one."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.distribute.homes import attached, audit_events, copy_home, ds_for, seeded_home, tldsec
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.cycle import open_cycle
from tldsec.cycle.guard import GuardSettings, Measure, check
from tldsec.distribute.config import load_distribute_settings
from tldsec.errors import ConfigError
from tldsec.service.supervisor import Service as Serve
from tldsec.settings import load_settings


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_home(tmp_path_factory.mktemp("template"), 40)


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    return copy_home(template, tmp_path)


def run(home: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["cycle", "--home", str(home), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def status(home: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert main(["status", "--home", str(home), "--json"]) in (0, 4)  # 4: a change is held
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def empty_registry(home: Path) -> None:
    """The registry URL now names a fresh database, created by an operator who took
    ``tldsec db upgrade --create`` for the cure (a restore, a new server)."""
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[database]\nregistry_url = "sqlite:///{home / "fresh.db"}"\n')
    tldsec("db", "upgrade", "--create", "--home", str(home))


def test_a_suddenly_empty_registry_is_held_not_published(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first = run(home, capsys)
    assert code == 0 and first["stats"]["delegations"] == 40
    empty_registry(home)

    code, held = run(home, capsys, "--force")
    assert code == 4 and held["outcome"] == "held"  # waits for a person
    assert "all 40 delegations would go" in held["error"]
    assert held["distributed"] == first["serial"]
    report = status(home, capsys)
    assert report["serial"] == first["serial"]  # nothing new distributed
    change = report["held"]["id"]
    assert report["incident"]["kind"] == "held" and not report["incident"]["resolved"]
    assert change in report["incident"]["message"]
    assert main(["status", "--home", str(home)]) == 4  # waiting (docs/operations.md)
    assert f"--accept-change {change}" in capsys.readouterr().out
    assert "cycle.held" in audit_events(home)
    # Held, it waits for a person: no cycle runs again on its own.
    assert run(home, capsys)[1]["outcome"] == "unchanged"
    # Forced again, the same change is held again, under the same id.
    code, again = run(home, capsys, "--force")
    assert code == 4 and again["outcome"] == "held" and change in again["error"]

    # An id that is not the held change is refused.
    assert main(["cycle", "--home", str(home), "--accept-change", "0123456789ab"]) == 1
    assert f"the change held now is {change}" in capsys.readouterr().err

    code, accepted = run(home, capsys, "--accept-change", change)
    assert code == 0 and accepted["outcome"] == "published"
    assert accepted["stats"]["delegations"] == 0
    events = audit_events(home)
    accepted_at = events.index("cycle.change_accepted")
    assert events[accepted_at:].count("zone.published") == 1
    assert status(home, capsys)["held"] is None


def test_a_held_change_needs_its_ceremony_where_one_is_required(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write('\n[ceremony]\nrequired = ["cycle.accept-change"]\n')
    run(home, capsys)
    empty_registry(home)
    code, held = run(home, capsys, "--force")
    assert code == 4
    change = status(home, capsys)["held"]["id"]
    assert main(["cycle", "--home", str(home), "--accept-change", change]) == 1
    assert "runs only under a key ceremony" in capsys.readouterr().err
    assert status(home, capsys)["serial"] == held["distributed"]


def test_ordinary_changes_pass(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(home, capsys)
    with attached(home) as registry:
        registry.remove_ds("dom0.example", ds_for(0))  # one DS of 8: small, passes
    code, result = run(home, capsys)
    assert code == 0 and result["outcome"] == "published"


SETTINGS = GuardSettings()


@pytest.mark.parametrize(
    ("before", "after", "held"),
    [
        (Measure(1000, 200, 10**7), Measure(1000, 200, 10**7), False),
        (Measure(1000, 200, 10**7), Measure(990, 200, 10**7), False),  # 10: the floor
        (Measure(1000, 200, 10**7), Measure(985, 200, 10**7), True),  # 1.5 %
        (Measure(100_000, 200, 10**7), Measure(99_500, 200, 10**7), False),  # 0.5 %
        (Measure(100_000, 20_000, 10**7), Measure(100_000, 19_000, 10**7), True),  # DS 5 %
        (Measure(5, 1, 1000), Measure(0, 0, 100), True),  # to zero: always
        (Measure(5, 1, 1000), Measure(5, 0, 900), True),  # every DS: always
        (Measure(10**6, 0, 10**8), Measure(10**6, 0, 12 * 10**7), True),  # +20 % bytes
        (Measure(10, 0, 1000), Measure(30, 0, 3000), False),  # small zone, small change
    ],
)
def test_the_guards_thresholds(before: Measure, after: Measure, held: bool) -> None:
    assert (check(before, after, 7, SETTINGS) is not None) is held


def test_the_first_zone_is_never_held_and_ids_name_the_change() -> None:
    assert check(None, Measure(0, 0, 0), None, SETTINGS) is None
    a = check(Measure(5, 1, 1), Measure(0, 0, 1), 7, SETTINGS)
    b = check(Measure(5, 1, 1), Measure(0, 0, 1), 8, SETTINGS)
    assert a is not None and b is not None and a.id != b.id


def test_guard_settings_are_checked(home: Path) -> None:
    with pytest.raises(ConfigError, match="max_ds_loss must be a share"):
        GuardSettings(max_ds_loss=2)
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write('max_delegation_loss = "1%"\n')  # appended to the [cycle] table
    assert main(["cycle", "--home", str(home), "--check"]) == 1


def test_tldsec_serve_shows_a_held_change_on_health(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(home, capsys)
    empty_registry(home)
    settings = load_settings(home)
    argv = [sys.executable, "-m", "tldsec.cli.main", "cycle", "--home", str(home), "--json"]
    serve = Serve(settings, SystemClock(), load_distribute_settings(settings), cycle_argv=argv)
    with open_cycle(settings, SystemClock(), keystore=False, audit=False) as checker:
        serve.scheduler = serve._scheduler(checker)
        serve.scheduler.last = asyncio.run(serve._run_cycle(True))  # as POST /cycle does
        health = serve.health()
    assert health["status"] == "degraded"
    assert health["last_cycle"]["outcome"] == "held"  # type: ignore[index]

"""``tldsec keys ...`` end to end on a home made by ``tldsec init`` (file key store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tldsec.cli.main import main


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    capsys.readouterr()
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_plan_history_and_export_ds(home: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "list", "--home", home, "--json")
    keys = json.loads(out)
    assert code == 0
    assert sorted((k["role"], k["state"]) for k in keys) == [
        ("ksk", "active"),
        ("zsk", "active"),
        ("zsk", "published"),
    ]
    ksk = next(k for k in keys if k["role"] == "ksk")
    assert ksk["ds_state"] == "submitted" and ksk["flags"] == 257

    code, out, _ = run(capsys, "keys", "plan", "--home", home)
    assert "WAITING FOR A PERSON" in out and f"ds-seen {ksk['key_tag']}" in out
    code, out, _ = run(capsys, "keys", "plan", "--home", home, "--json")
    steps = json.loads(out)
    assert steps[0]["action"] == "switch" and steps[0]["waiting_for"]["name"] == "lifetime"

    code, out, _ = run(capsys, "keys", "export-ds", "--home", home)
    assert out.startswith(f"example. 86400 IN DS {ksk['key_tag']} 8 2 ")
    code, out, _ = run(capsys, "keys", "export-ds", "--home", home, "--format", "iana")
    assert f"Key Tag:     {ksk['key_tag']}" in out and "Digest Type: 2 (SHA-256)" in out

    code, out, _ = run(capsys, "keys", "history", "--home", home, "--json")
    assert [e["event"] for e in json.loads(out)][:2] == ["key.generated", "key.published"]


def test_ds_seen_and_refusals(home: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "keys", "list", "--home", home, "--json")
    keys = json.loads(out)
    ksk = next(k for k in keys if k["role"] == "ksk")
    code, out, _ = run(capsys, "keys", "ds-seen", "--home", home, str(ksk["key_tag"]))
    assert code == 0 and "ds.seen" in out
    code, _, err = run(capsys, "keys", "ds-seen", "--home", home, str(ksk["key_tag"]))
    assert code == 1 and "already seen" in err
    standby = next(k for k in keys if k["state"] == "published")
    code, _, err = run(
        capsys, "keys", "rollover", "--home", home, "--zsk", "--key", standby["key_id"],
        "--reason", "x",
    )  # fmt: skip
    assert code == 1 and "only the active key rolls" in err


def test_emergency_rollover_explains_then_needs_confirmation(
    home: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "keys", "rollover", "--home", home, "--zsk", "--emergency", "--reason", "leak"
    )
    assert code == 1 and "What remains at risk" in out and "add --yes" in err
    code, out, _ = run(
        capsys, "keys", "rollover", "--home", home, "--zsk", "--emergency", "--reason", "leak",
        "--yes",
    )  # fmt: skip
    assert code == 0 and "key.compromised" in out and "key.retired" in out


def test_simulate_prints_a_table_or_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "keys", "simulate", "--days", "100", "--start", "2025-01-01",
        "--emergency-zsk-at", "30", "--json",
    )  # fmt: skip
    events = json.loads(out)
    assert code == 0 and events[0]["time"] == "2025-01-01T00:00:00Z"
    assert "key.compromised" in {e["event"] for e in events}
    assert {"published", "signing_dnskey", "signing_zone", "parent_ds"} <= set(events[0])
    code, out, _ = run(capsys, "keys", "simulate", "--days", "100", "--start", "2025-01-01")
    assert out.splitlines()[0].startswith("time (UTC)")


def test_simulate_an_algorithm_rollover_to_13(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "keys", "simulate", "--days", "60", "--start", "2025-01-01",
        "--algorithm-rollover-at", "10", "--to-algorithm", "13", "--json",
    )  # fmt: skip
    events = json.loads(out)
    assert code == 0
    assert {"published", "signing_dnskey", "signing_zone", "parent_ds"} <= set(events[0])
    assert events[0]["algorithm"] == 8 and set(events[0]["key_algorithms"].values()) == {8}
    order = [
        (e["event"], e["algorithm"])
        for e in events
        if e["event"] in ("key.presigned", "key.published", "ds.submitted", "key.unpublished")
        and e["time"] > "2025-01-10"
    ]
    assert order[:2] == [("key.presigned", 13)] * 2
    assert order.index(("key.published", 13)) < order.index(("ds.submitted", 13))
    assert order.index(("ds.submitted", 13)) < order.index(("key.unpublished", 8))
    last = events[-1]
    assert set(last["key_algorithms"].values()) == {13}
    assert all(str(t) in last["key_algorithms"] for t in last["parent_ds"])
    code, _, err = run(capsys, "keys", "simulate", "--days", "10", "--to-algorithm", "13")
    assert code != 0 and "go together" in err

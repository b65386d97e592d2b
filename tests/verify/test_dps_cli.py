"""The attack of issue 13 (4, the gate's half): with the home's key store out of the way,
``tldsec verify --no-keystore`` refuses zones whose DPS numbers are wrong, exits 1 and
names the check, the rule and the DPS section. Each zone is signed for real and is
otherwise valid DNSSEC."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from tests.verify.conftest import ORIGIN, Case, Mutation
from tests.verify.dps_faults import DPS_FAULTS, zsk_of_2048_bits
from tldsec.cli.main import main


@pytest.mark.parametrize(
    ("mutate", "check", "reason"),
    [pytest.param(m, ch, r, id=name) for name, m, ch, _o, r in DPS_FAULTS],
)
def test_verify_without_the_key_store_refuses_each_dps_fault(
    case: Case,
    mutate: Mutation,
    check: str,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TLDSEC_HOME", raising=False)
    monkeypatch.chdir(case.dir)  # no home: the built-in DPS policy
    case.verify_at = datetime.now(UTC)  # the CLI verifies at the real clock
    mutate(case)
    case.write()
    args = [
        "verify",
        str(case.signed),
        "--origin",
        ORIGIN,
        "--trust-anchor",
        str(case.anchor),
        "--unsigned",
        str(case.unsigned),
        "--no-external",
        "--no-keystore",
    ]
    code = main(args)
    out = capsys.readouterr().out
    assert code == 3, out  # integrity
    assert f"[FAIL] {check} " in out
    lines = [line for line in out.splitlines() if reason in line]
    assert lines, out
    assert any("DPS 6." in line for line in lines), out


def test_the_good_zone_passes_without_the_key_store(
    case: Case, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TLDSEC_HOME", raising=False)
    monkeypatch.chdir(case.dir)
    case.write()
    code = main(
        [
            "verify",
            str(case.signed),
            "--origin",
            ORIGIN,
            "--trust-anchor",
            str(case.anchor),
            "--no-external",
            "--no-keystore",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "[ok  ] dnskey" in out


def test_a_home_s_policy_sets_the_rules_and_only_dps_is_held_to_the_dps(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    pins = []
    for name, value in (("pin", "1234-user"), ("so-pin", "5678-officer")):
        pin = tmp_path / name
        pin.write_text(value + "\n")
        pin.chmod(0o600)
        pins.append(str(pin))
    init = ["init", "--home", str(home), "--origin", "example", "--policy", "dps"]
    assert main([*init, "--pin-file", pins[0], "--so-pin-file", pins[1]]) == 0
    zsk_of_2048_bits(case)
    case.write()
    args = [
        "verify",
        "--home",
        str(home),
        str(case.signed),
        "--trust-anchor",
        str(case.anchor),
        "--unsigned",
        str(case.unsigned),
        "--no-external",
        "--no-keystore",
    ]
    capsys.readouterr()
    assert main(args) == 3  # the home's policy is "dps": refused, integrity
    out = capsys.readouterr().out
    assert "[FAIL] dnskey " in out and "DPS 6.1 requires a 1024-bit ZSK" in out
    # A policy with another name may deviate: its own numbers are the rules.
    builtin = resources.files("tldsec.policies").joinpath("dps.toml").read_text("utf-8")
    assert 'name = "dps"' in builtin and "bits = 1024" in builtin
    lab = builtin.replace('name = "dps"', 'name = "lab"').replace("bits = 1024", "bits = 2048")
    (home / "policy.toml").write_text(lab)
    with open(home / "tldsec.toml", "a", encoding="utf-8") as config:
        config.write('\n[policy]\nfile = "policy.toml"\n')
    assert main(args) == 0, capsys.readouterr().out

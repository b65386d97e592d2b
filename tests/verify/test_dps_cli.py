"""The attack of issue 13 (4, the gate's half): with the home's key store out of the way,
``tldsec verify --no-keystore`` refuses zones whose DPS numbers are wrong, exits 1 and
names the check, the rule and the DPS section. Each zone is signed for real and is
otherwise valid DNSSEC."""

from __future__ import annotations

import pytest

from tests.verify.conftest import ORIGIN, Case, Mutation
from tests.verify.dps_faults import DPS_FAULTS
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
    assert code == 1, out
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

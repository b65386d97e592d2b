"""``tldsec policy check`` and a home's policy (issue 13, attack 4): a policy that breaks
the DPS it names is listed value by value and refused when a home loads it; a policy
named otherwise may deviate, and ``tldsec status`` says where."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from tldsec.cli.main import main
from tldsec.errors import PolicyViolation
from tldsec.settings import load_settings

ATTACK_4 = (
    ("bits = 2048", "bits = 1024"),  # the KSK
    ("lifetime_days = 90", "lifetime_days = 3650"),  # the ZSK
    ("validity_min_days = 6", "validity_min_days = 28"),
    ("validity_max_days = 8", "validity_max_days = 30"),
    ("interval_seconds = 900", "interval_seconds = 86400"),
    ("online_retention_days = 365", "online_retention_days = 1"),
    ("archive_retention_days = 1095", "archive_retention_days = 1"),
    ("soa = 86400", "soa = 600"),
)


def dps_text() -> str:
    return resources.files("tldsec.policies").joinpath("dps.toml").read_text("utf-8")


def policy_text(replacements: tuple[tuple[str, str], ...], name: str = "dps") -> str:
    text = dps_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    return text.replace('name = "dps"', f'name = "{name}"').replace(
        'allowed_backends = ["pkcs11"]', 'allowed_backends = ["pkcs11", "file"]'
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("policy") / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
    return home


def test_policy_check_lists_every_value_of_attack_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(policy_text(ATTACK_4))
    assert main(["policy", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    for line in (
        "DPS 6.1     breaks the DPS  ksk.bits = 1024: the DPS says 2048",
        "DPS 6.4     breaks the DPS  zsk.lifetime_days = 3650",
        "DPS 6.5     breaks the DPS  signatures.validity_min_days = 28",
        "DPS 6.5     breaks the DPS  signatures.validity_max_days = 30",
        "DPS 3.5.2   breaks the DPS  cycle.interval_seconds = 86400",
        "DPS 4.4.3   breaks the DPS  audit.online_retention_days = 1",
        "DPS 4.4.3   breaks the DPS  audit.archive_retention_days = 1",
        "DPS 6.7     breaks the DPS  ttl.soa = 600",
        "RFC 9077 3  inconsistent    ttl.soa = 600: must be at least ttl.nsec3",
        "REFUSED: tldsec will not load this policy",
    ):
        assert line in out, line
    assert main(["policy", "check", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["refused"] and report["claims_dps"]
    assert {f["field"] for f in report["findings"]} == {
        "ksk.bits",
        "zsk.lifetime_days",
        "signatures.validity_min_days",
        "signatures.validity_max_days",
        "cycle.interval_seconds",
        "audit.online_retention_days",
        "audit.archive_retention_days",
        "ttl.soa",
    }


def test_the_builtin_policy_and_an_initialised_home_pass(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "check", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    # tldsec init --keystore file: not the dps policy, and it stores the PIN (DPS 4.2.4)
    assert f"policy {home / 'policy.toml'} (name = 'file-keys')" in out
    assert "keystore.activation" in out and "allowed because the policy is named" in out


def test_a_home_whose_dps_policy_breaks_the_dps_does_not_load(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = home / "policy.toml"
    original = policy.read_text()
    try:
        policy.write_text(policy_text(ATTACK_4))
        with pytest.raises(PolicyViolation) as err:
            load_settings(home)
        assert "ksk.bits = 1024: the DPS says 2048 (DPS 6.1)" in str(err.value)
        assert main(["status", "--home", str(home)]) == 1
        err_line = capsys.readouterr().err
        assert f"policy {policy} is refused, 9 value(s) break a rule" in err_line
        assert main(["policy", "check", "--home", str(home)]) == 1  # lists them all
        assert "zsk.lifetime_days = 3650" in capsys.readouterr().out
    finally:
        policy.write_text(original)


def test_a_differently_named_policy_deviates_and_status_says_where(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = home / "policy.toml"
    original = policy.read_text()
    deviating = (("bits = 2048", "bits = 4096"), ("online_retention_days = 365",
                 "online_retention_days = 730"), ("dnskey = 43200", "dnskey = 3600"))  # fmt: skip
    try:
        policy.write_text(policy_text(deviating, name="lab"))
        assert main(["policy", "check", "--home", str(home)]) == 0
        out = capsys.readouterr().out
        assert "ksk.bits = 4096: the DPS says 2048" in out
        assert "loads: 2 value(s) deviate from the DPS" in out  # 730 days online is more
        assert main(["status", "--home", str(home), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)["policy"]
        assert report["name"] == "lab"
        assert report["dps_deviations"] == [
            "ksk.bits = 4096: the DPS says 2048 (DPS 6.1)",
            "ttl.dnskey = 3600: the DPS says 43200 (DPS 6.7)",
        ]
        assert main(["status", "--home", str(home)]) == 0
        text = capsys.readouterr().out
        assert "policy          'lab'" in text and "DEVIATES from the DPS in 2 value(s)" in text
    finally:
        policy.write_text(original)
    assert main(["status", "--home", str(home)]) == 0
    # tldsec init's file-keys policy stores the PIN and, with no SMK, uses keys unbacked
    out = capsys.readouterr().out
    assert "DEVIATES from the DPS in 2 value(s)" in out and "keystore.activation" in out
    assert "keystore.backup_before_use" in out


def test_policy_check_refuses_a_key_size_no_key_store_makes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Decision 83 item 2: said where the size is written, naming the file, the key and
    the limit, not at key generation."""
    path = tmp_path / "big.toml"
    path.write_text(policy_text((("bits = 1024", "bits = 8192"),), name="big"))  # the ZSK
    assert main(["policy", "check", str(path)]) != 0
    err = capsys.readouterr().err
    assert "zsk.bits" in err and str(path) in err and "at most 4096" in err, err

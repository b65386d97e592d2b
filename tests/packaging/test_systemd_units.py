"""Issue 22, item 5: the systemd units of packaging/systemd are valid for this machine's
systemd (``systemd-analyze verify``: unknown keys, bad values, a missing program) and
hardened (ProtectSystem=strict, NoNewPrivileges, a dedicated user, secrets as
credentials, only the home writable; ``systemd-analyze security`` rates each)."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tldsec.errors import KeyStoreLoginError
from tldsec.settings import resolve_pin

UNITS = Path(__file__).resolve().parents[2] / "packaging" / "systemd"
INSTALLED = "/opt/tldsec/bin/tldsec"  # where the Debian package puts the command
SERVICES = sorted(UNITS.glob("*.service"))


def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def here(path: Path, into: Path) -> Path:
    """The unit with this test's ``tldsec`` in place of the installed one."""
    tldsec = Path(sys.executable).parent / "tldsec"
    copy = into / path.name
    copy.write_text(path.read_text().replace(INSTALLED, str(tldsec)))
    return copy


def test_every_role_has_a_unit() -> None:
    names = {p.name for p in UNITS.iterdir()}
    assert {"tldsec.service", "tldsec-primary.service", "tldsec-audit-verify.service",
            "tldsec-console.service",
            "tldsec-audit-verify.timer", "sysusers-tldsec.conf"} <= names  # fmt: skip


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_a_service_is_hardened(path: Path) -> None:
    service = unit(path)["Service"]
    assert service["User"] == "tldsec" and service["Group"] == "tldsec"
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ReadWritePaths"] == "/var/lib/tldsec"
    assert service["ExecStart"].startswith(f"{INSTALLED} ")
    assert "--home /var/lib/tldsec" in service["ExecStart"]
    assert service["UMask"] == "0077"
    for key in ("ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictSUIDSGID"):
        assert service[key] == "yes", key
    if "--role primary" not in service["ExecStart"]:  # it signs: secrets are credentials
        assert service["LoadCredential"] == "tldsec:/etc/tldsec/credentials"
        assert service["CapabilityBoundingSet"] == ""
    else:  # the primary holds no secret of the HSM, only the right to bind port 53
        assert "LoadCredential" not in service
        assert service["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"


def test_systemd_accepts_the_units_and_rates_them_well(tmp_path: Path) -> None:
    assert shutil.which("systemd-analyze"), "scripts/install-debian-deps installs systemd"
    copies = [
        here(p, tmp_path) for p in sorted(UNITS.glob("*.service")) + sorted(UNITS.glob("*.timer"))
    ]
    out = subprocess.run(
        ["systemd-analyze", "verify", *map(str, copies)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    problems = [line for line in out.stderr.splitlines() if str(tmp_path) in line]
    assert problems == []  # an unknown key or a bad value is only a warning: none here
    for copy in copies:
        if copy.suffix != ".service":
            continue
        rated = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", str(copy)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", rated.stdout)
        assert level is not None, rated.stdout + rated.stderr
        assert float(level.group(1)) <= 2.0, (copy.name, rated.stdout)  # "OK" is below 4


def test_the_pin_comes_from_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hsm-pin").write_text("1234-user\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert resolve_pin("credential:hsm-pin", tmp_path) == "1234-user"
    with pytest.raises(KeyStoreLoginError, match="cannot read"):
        resolve_pin("credential:other", tmp_path)
    with pytest.raises(KeyStoreLoginError, match="plain file name"):
        resolve_pin("credential:../hsm-pin", tmp_path)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(KeyStoreLoginError, match="LoadCredential"):
        resolve_pin("credential:hsm-pin", tmp_path)

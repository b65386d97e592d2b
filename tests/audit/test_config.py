"""[audit] in tldsec.toml, where the audit key lives, and opening the log for an entry point."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.audit.conftest import START
from tldsec.audit.config import audit_config, open_audit_log, resolve_backend
from tldsec.audit.query import iter_entries
from tldsec.audit.signing import verify_signature
from tldsec.clock import FakeClock
from tldsec.errors import AuditError, ConfigError
from tldsec.settings import Settings, load_settings

POLICY = Path(__file__).parents[2] / "src/tldsec/policies/dps.toml"


def make_home(tmp_path: Path, audit: str = "", keystore: str = 'backend = "file"') -> Settings:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    text = (
        POLICY.read_text("utf-8")
        .replace('allowed_backends = ["pkcs11"]', 'allowed_backends = ["pkcs11", "file"]')
        .replace('name = "dps"', 'name = "test"')
        .replace('activation = "security-officer"', 'activation = "stored"')
    )
    (home / "policy.toml").write_text(text, "utf-8")
    (home / "tldsec.toml").write_text(
        f'[zone]\norigin = "example"\n[keystore]\n{keystore}\n[policy]\nfile = "policy.toml"\n'
        f"[audit]\n{audit}\n",
        "utf-8",
    )
    return load_settings(home)


def test_defaults_put_everything_in_the_home(tmp_path: Path) -> None:
    settings = make_home(tmp_path)
    config = audit_config(settings)
    assert settings.audit_db_url == f"sqlite:///{settings.home / 'audit.db'}"
    assert config.db_url == settings.audit_db_url
    assert config.key_file == settings.home / "audit-key.pem"
    assert config.archive_dir == settings.home / "audit-archive"
    assert (config.key_backend, config.key_label) == ("auto", "tldsec-audit")
    assert config.writer.checkpoint_every == 1000
    assert config.writer.checkpoint_interval == timedelta(hours=1)
    assert resolve_backend(settings, config) == "file"  # the key store is not an HSM


def test_every_setting_can_be_given(tmp_path: Path) -> None:
    settings = make_home(
        tmp_path,
        'key_backend = "file"\nkey_file = "/etc/tldsec/audit.pem"\narchive_dir = "arch"\n'
        "checkpoint_every = 50\ncheckpoint_interval_seconds = 60\nclock_tolerance_ms = 0\n",
    )
    config = audit_config(settings)
    assert config.key_file == Path("/etc/tldsec/audit.pem")
    assert config.archive_dir == settings.home / "arch"
    assert config.writer.checkpoint_every == 50
    assert config.writer.backwards_tolerance == timedelta(0)


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ('key_backend = "usb"', r"\[audit\] key_backend .* must be one of 'auto', 'file'"),
        ("checkpoint_every = 0", r"\[audit\] checkpoint_every .* must be at least 1, not 0"),
        ('key_fiel = "x"', "unknown key 'key_fiel' in \\[audit\\] .*did you mean 'key_file'"),
        ('key_file = ""', r"\[audit\] key_file .* must be not empty"),
        ("checkpoint_every = true", r"checkpoint_every .* must be an integer, not True"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, audit: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # refused when the home loads
        make_home(tmp_path, audit)


def test_a_new_log_gets_its_key_and_records_both(tmp_path: Path) -> None:
    settings = make_home(tmp_path)
    log = open_audit_log(settings, FakeClock(START))
    try:
        assert log.signer is not None
        events = [e.event for e in iter_entries(log.engine) if not e.event.startswith("clock.")]
        assert events == ["audit.initialized", "audit.key_generated"]
    finally:
        log.close()
    again = open_audit_log(settings, FakeClock(START))  # reopening creates nothing
    try:
        assert again.signer is not None and again.signer.key_id == log.signer.key_id
        assert len([e for e in iter_entries(again.engine) if e.event.startswith("audit.")]) == 2
    finally:
        again.close()


def test_a_lost_key_is_never_replaced_silently(tmp_path: Path) -> None:
    settings = make_home(tmp_path)
    open_audit_log(settings, FakeClock(START)).close()
    (settings.home / "audit-key.pem").unlink()
    with pytest.raises(AuditError, match="run 'tldsec audit init'"):
        open_audit_log(settings, FakeClock(START))
    log = open_audit_log(settings, FakeClock(START), new_key=True)
    try:
        assert [e.event for e in iter_entries(log.engine)][-1] == "audit.key_generated"
    finally:
        log.close()


def test_auto_keeps_the_key_in_an_hsm_that_offers_ed25519(
    tmp_path: Path, softhsm_spec: object
) -> None:
    spec = softhsm_spec
    pin_file = tmp_path / "pin"
    pin_file.write_text(spec.pin)  # type: ignore[attr-defined]
    settings = make_home(
        tmp_path,
        keystore=(
            f'backend = "pkcs11"\nmodule = "{spec.module}"\n'  # type: ignore[attr-defined]
            f'token_label = "{spec.token_label}"\n'  # type: ignore[attr-defined]
            f'pin_source = "file:{pin_file}"\nsofthsm2_conf = "{spec.softhsm2_conf}"'  # type: ignore[attr-defined]
        ),
    )
    assert resolve_backend(settings, audit_config(settings)) == "pkcs11"
    log = open_audit_log(settings, FakeClock(START))
    try:
        key_event = [e for e in iter_entries(log.engine) if e.event == "audit.key_generated"]
        assert key_event[0].details["backend"] == "pkcs11"
        assert not (settings.home / "audit-key.pem").exists()
        cp = log.checkpoint()  # signed inside the token
        assert cp is not None and log.signer is not None
        assert verify_signature(log.signer.public_key(), cp.signature, cp.message())
    finally:
        log.close()

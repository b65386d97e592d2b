"""The embedded default HSM: ``init_softhsm_token`` makes a usable SoftHSM2 token in a home."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tldsec.errors import KeyStoreError
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.softhsm import init_softhsm_token, softhsm2_module
from tldsec.hsm.softhsm_library import find_softhsm2_module
from tldsec.policy import Algorithm


def test_init_writes_the_configuration_and_a_usable_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    conf, module = init_softhsm_token(home, "tldsec", "user-pin", "so-pin-1")
    assert conf == (home / "softhsm2.conf").absolute()
    assert module == find_softhsm2_module() == softhsm2_module()
    text = conf.read_text()
    assert f"directories.tokendir = {(home / 'tokens').absolute()}\n" in text
    assert "objectstore.backend = file\n" in text
    assert "log.level = ERROR\n" in text
    assert stat.S_IMODE((home / "tokens").stat().st_mode) == 0o700

    spec = KeyStoreSpec(
        backend="pkcs11", module=module, token_label="tldsec", pin="user-pin", softhsm2_conf=conf
    )
    with Pkcs11KeyStore(spec) as store:
        info = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=1024)
        assert store.get_key(info.key_id) == info


def test_a_second_token_in_the_same_home_and_a_taken_label(tmp_path: Path) -> None:
    init_softhsm_token(tmp_path, "first", "user-pin", "so-pin-1")
    conf, _ = init_softhsm_token(tmp_path, "second", "user-pin-2", "so-pin-2")
    with pytest.raises(KeyStoreError, match=f"a token labelled 'first' already exists \\({conf}"):
        init_softhsm_token(tmp_path, "first", "user-pin", "so-pin-1")


def test_an_edited_configuration_is_kept(tmp_path: Path) -> None:
    init_softhsm_token(tmp_path, "first", "user-pin", "so-pin-1")
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(conf.read_text() + "# operator's note\n")
    init_softhsm_token(tmp_path, "second", "user-pin", "so-pin-1")
    assert conf.read_text().endswith("# operator's note\n")


@pytest.mark.parametrize(
    ("label", "pin", "so_pin", "message"),
    [
        ("", "user-pin", "so-pin-1", "must be 1..32 octets"),
        ("x" * 33, "user-pin", "so-pin-1", "must be 1..32 octets"),
        ("tldsec", "123", "so-pin-1", "the user PIN must be 4..255 characters"),
        ("tldsec", "user-pin", "12", "the SO PIN must be 4..255 characters"),
    ],
)
def test_bad_labels_and_pins_are_refused(
    tmp_path: Path, label: str, pin: str, so_pin: str, message: str
) -> None:
    with pytest.raises(KeyStoreError, match=message):
        init_softhsm_token(tmp_path, label, pin, so_pin)


def test_stores_of_two_configurations_in_one_process(
    softhsm_store: Pkcs11KeyStore, tmp_path: Path
) -> None:
    """Another home's SoftHSM2 configuration re-initialises the module; both stores work."""
    info = softhsm_store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    signature = softhsm_store.sign(info.key_id, b"data")
    conf, module = init_softhsm_token(tmp_path, "elsewhere", "user-pin", "so-pin-1")
    spec = KeyStoreSpec(
        backend="pkcs11",
        module=module,
        token_label="elsewhere",
        pin="user-pin",
        softhsm2_conf=conf,
    )
    with Pkcs11KeyStore(spec) as other:
        other_key = other.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=1024)
        assert softhsm_store.sign(info.key_id, b"data") == signature  # switches back
        assert other.get_key(other_key.key_id) == other_key  # and forth

"""A SoftHSM2 token record emptied by a kill is given back its good copy (decision 81).

SoftHSM2 rewrites ``token.object`` at every login (truncate, then write); a process
killed in between leaves it empty. Each login of tldsec keeps a good copy beside it, and
an opening that finds the record empty restores the copy, keeping it only if it opens
with the current PIN. Each step runs in a process of its own, as after a real kill (a
fresh C_Initialize reads the token directory).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tldsec.hsm.softhsm import init_softhsm_token
from tldsec.hsm.softhsm_record import GOOD_COPY, parse_record

PIN, NEW_PIN, SO_PIN = "1234-user", "4321-user-rotated", "5678-so-pin"
LABEL = "record"

# Opens the store with a PIN; "generate" makes an RSA key first; signs b"data" with
# every key; prints the keys, signatures and the repairs of this process as JSON.
OPEN_AND_SIGN = """
import json, sys
from pathlib import Path
from tldsec.errors import KeyStoreUnavailable
from tldsec.hsm import p11lib
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.open import open_keystore
from tldsec.policy import Algorithm
conf, module, label, pin, generate = sys.argv[1:6]
spec = KeyStoreSpec(backend="pkcs11", module=Path(module), token_label=label, pin=pin,
                    softhsm2_conf=Path(conf))
try:
    store = open_keystore(spec)
except KeyStoreUnavailable as exc:
    print(exc)
    sys.exit(3)
if generate == "generate":
    store.generate_key(label="k", algorithm=Algorithm.RSASHA256, bits=2048)
keys = {k.key_id: [k.public_key.hex(), store.sign(k.key_id, b"data").hex()]
        for k in store.list_keys()}
store.close()
print(json.dumps({"keys": keys, "restored": [r.details() for r in p11lib.take_restored()]}))
"""

# Changes the user PIN with python-pkcs11 alone: another tool, no login by tldsec.
SET_PIN = """
import os, sys
import pkcs11
conf, module, label, old, new = sys.argv[1:6]
os.environ["SOFTHSM2_CONF"] = conf
token = pkcs11.lib(module).get_token(token_label=label)
with token.open(rw=True, user_pin=old) as session:
    session.set_pin(old, new)
"""


def run(script: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True
    )


def signed(conf: Path, module: Path, pin: str = PIN, generate: str = "") -> dict[str, object]:
    out = run(OPEN_AND_SIGN, conf, module, LABEL, pin, generate or "-")
    assert out.returncode == 0, out.stdout + out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def refused(conf: Path, module: Path, pin: str = PIN) -> str:
    out = run(OPEN_AND_SIGN, conf, module, LABEL, pin, "-")
    assert out.returncode == 3, out.stdout + out.stderr
    return out.stdout.strip()


def a_token_with_a_key(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, object]]:
    conf, module = init_softhsm_token(tmp_path, LABEL, PIN, SO_PIN)
    first = signed(conf, module, generate="generate")
    (record,) = (tmp_path / "tokens").glob("*/token.object")
    return conf, module, record, first


def test_a_login_keeps_a_good_copy_beside_the_record(tmp_path: Path) -> None:
    record = a_token_with_a_key(tmp_path)[2]
    copy = record.with_name(GOOD_COPY)
    assert copy.read_bytes()[8:] == record.read_bytes()[8:]  # the write counter aside
    assert copy.stat().st_mode == record.stat().st_mode
    parsed = parse_record(copy.read_bytes())
    assert parsed is not None and parsed.label == LABEL
    assert record.parent.name.replace("-", "").endswith(parsed.serial)


def test_an_emptied_record_is_restored_and_signs_with_the_same_key(tmp_path: Path) -> None:
    conf, module, record, first = a_token_with_a_key(tmp_path)
    record.write_bytes(b"")  # what a SIGKILL during SoftHSM2's rewrite leaves
    again = signed(conf, module)
    assert again["keys"] == first["keys"]  # same public key, same RSA signature
    (restored,) = again["restored"]  # type: ignore[misc]
    assert restored["token_directory"] == str(record.parent)
    assert restored["copy_time"]
    assert record.stat().st_size > 0
    assert signed(conf, module)["restored"] == []  # whole again: nothing to repair


def test_a_missing_record_is_restored_too(tmp_path: Path) -> None:
    conf, module, record, first = a_token_with_a_key(tmp_path)
    record.unlink()
    assert signed(conf, module)["keys"] == first["keys"]


def test_a_copy_from_before_a_pin_change_is_not_kept(tmp_path: Path) -> None:
    conf, module, record, _ = a_token_with_a_key(tmp_path)
    changed = run(SET_PIN, conf, module, LABEL, PIN, NEW_PIN)
    assert changed.returncode == 0, changed.stderr
    copy_before = record.with_name(GOOD_COPY).read_bytes()
    record.write_bytes(b"")

    message = refused(conf, module, NEW_PIN)
    assert record.read_bytes() == b""  # left as found
    assert record.with_name(GOOD_COPY).read_bytes() == copy_before
    assert f"{record.parent} has an empty or missing token.object" in message
    assert "exists but does not open with the current PIN" in message
    assert message.endswith("restore the token directory from your backup (docs/hsm.md)")


def test_without_a_copy_the_error_is_unchanged(tmp_path: Path) -> None:
    conf, module, record, _ = a_token_with_a_key(tmp_path)
    record.with_name(GOOD_COPY).unlink()
    record.write_bytes(b"")
    message = refused(conf, module)
    assert message.endswith(
        f"SoftHSM2 token directory {record.parent} has an empty or missing token.object: a "
        "process was killed while SoftHSM2 rewrote it (it does at every login), so the "
        "token reads as uninitialised. Its keys cannot be used without that file: restore "
        "the token directory from your backup (docs/hsm.md)"
    )


def test_a_copy_with_a_flipped_byte_is_rolled_back(tmp_path: Path) -> None:
    conf, module, record, _ = a_token_with_a_key(tmp_path)
    copy = record.with_name(GOOD_COPY)
    damaged = bytearray(copy.read_bytes())
    damaged[-1] ^= 0x01  # in the user PIN's blob, the last attribute
    copy.write_bytes(bytes(damaged))
    record.write_bytes(b"")
    message = refused(conf, module)
    assert record.read_bytes() == b""
    assert "exists but does not open with the current PIN" in message


def test_a_truncated_copy_is_never_restored(tmp_path: Path) -> None:
    conf, module, record, _ = a_token_with_a_key(tmp_path)
    copy = record.with_name(GOOD_COPY)
    copy.write_bytes(copy.read_bytes()[:-10])
    record.unlink()
    message = refused(conf, module)
    assert not record.exists()  # left as found: missing
    assert f"its good copy {copy} is damaged (not a whole token record): not used" in message


def test_a_record_cut_short_does_not_parse(tmp_path: Path) -> None:
    _, _, record, _ = a_token_with_a_key(tmp_path)
    whole = record.read_bytes()
    assert parse_record(whole) is not None
    assert all(parse_record(whole[:n]) is None for n in range(len(whole)))

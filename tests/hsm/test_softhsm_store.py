"""A SoftHSM2 token whose token.object was emptied mid-write is named, not just missing.

SoftHSM2 rewrites ``token.object`` at every login; a process killed then leaves it
empty and the token reads as uninitialised. Opening the store must say which token
directory lost its record and that it must be restored from backup.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tldsec.hsm.softhsm import init_softhsm_token, write_softhsm2_conf
from tldsec.hsm.softhsm_record import GOOD_COPY
from tldsec.hsm.softhsm_store import damaged_tokens, token_directory

OPEN_STORE = """
import sys
from pathlib import Path
from tldsec.errors import KeyStoreUnavailable
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.open import open_keystore
conf, module, label = sys.argv[1:4]
spec = KeyStoreSpec(backend="pkcs11", module=Path(module), token_label=label,
                    pin="1234-user", softhsm2_conf=Path(conf))
try:
    open_keystore(spec).close()
except KeyStoreUnavailable as exc:
    print(exc)
    sys.exit(3)
"""


def test_the_token_directory_is_read_from_the_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "softhsm2.conf"
    conf.write_text("# comment\nlog.level = ERROR\ndirectories.tokendir = /srv/tokens \n")
    assert token_directory(conf) == Path("/srv/tokens")
    conf.write_text("log.level = ERROR\n")
    assert token_directory(conf) is None
    assert token_directory(tmp_path / "absent.conf") is None


def test_only_directories_with_an_empty_or_missing_record_are_damaged(tmp_path: Path) -> None:
    conf = write_softhsm2_conf(tmp_path)
    tokens = tmp_path / "tokens"
    for name, record in (("a-ok", b"x" * 320), ("b-empty", b""), ("c-missing", None)):
        (tokens / name).mkdir()
        if record is not None:
            (tokens / name / "token.object").write_bytes(record)
    assert damaged_tokens(conf) == [tokens / "b-empty", tokens / "c-missing"]


def test_a_token_emptied_mid_write_is_named_with_its_remedy(tmp_path: Path) -> None:
    conf, module = init_softhsm_token(tmp_path, "emptied", "1234-user", "5678-so-pin")
    child = [sys.executable, "-c", OPEN_STORE, str(conf), str(module), "emptied"]
    assert subprocess.run(child, capture_output=True, text=True).returncode == 0
    (record,) = (tmp_path / "tokens").glob("*/token.object")
    record.write_bytes(b"")  # what a SIGKILL during SoftHSM2's rewrite leaves
    record.with_name(GOOD_COPY).unlink()  # with it, the record is restored (decision 81)

    opened = subprocess.run(child, capture_output=True, text=True)
    assert opened.returncode == 3, opened.stderr
    message = opened.stdout
    assert "no token labelled 'emptied'" in message
    assert str(record.parent) in message
    assert "restore the token directory from your backup" in message

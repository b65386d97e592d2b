"""``tldsec push-cert``: a key (0600) and a self-signed certificate whose fingerprint is
what ``show`` prints and what a TLS peer presents; an existing one is never overwritten."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from tldsec.cli.main import main
from tldsec.distribute.pushcert import fingerprint_der


def test_new_then_show_print_the_fingerprint_tls_presents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["push-cert", "new", "--name", "site-a", "-o", str(tmp_path), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (tmp_path / "site-a.key").stat().st_mode & 0o777 == 0o600
    assert main(["push-cert", "show", made["cert"]]) == 0
    assert capsys.readouterr().out.strip() == made["sha256"]
    der = ssl.PEM_cert_to_DER_cert((tmp_path / "site-a.pem").read_text())
    assert fingerprint_der(der) == made["sha256"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "site-a.pem", tmp_path / "site-a.key")  # a usable pair

    key_before = (tmp_path / "site-a.key").read_bytes()
    assert main(["push-cert", "new", "--name", "site-a", "-o", str(tmp_path)]) == 1
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "site-a.key").read_bytes() == key_before

"""The one self-signed P-256 certificate maker (``selfsigned.py``) behind the EPP
server's default certificate and the push channel's pinned ones: names, CA flag, key
mode, and a rewrite that replaces the files whole."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tldsec.distribute.pushcert import fingerprint, new_certificate
from tldsec.epp.tlscert import make_self_signed
from tldsec.selfsigned import self_signed

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_names_ca_flag_validity_and_fingerprint(tmp_path: Path) -> None:
    made = self_signed(
        tmp_path / "c.pem",
        tmp_path / "k.key",
        "push site-a",
        now=NOW,
        validity=timedelta(days=10),
        dns_names=("site-a",),
        ip_addresses=("127.0.0.1",),
        ca=True,
    )
    cert = _cert(made.cert)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert cert.issuer == cert.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["site-a"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    assert cert.not_valid_after_utc == NOW + timedelta(days=10)
    assert made.sha256 == cert.fingerprint(hashes.SHA256()).hex() == fingerprint(made.cert)
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600


def test_the_push_certificate_is_no_ca_and_the_epp_one_is(tmp_path: Path) -> None:
    push = new_certificate("site-a", tmp_path / "push", NOW)
    assert not _cert(push.cert).extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    make_self_signed(tmp_path / "epp.pem", tmp_path / "epp.key", "localhost")
    epp = _cert(tmp_path / "epp.pem")
    assert epp.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_rewritten_epp_key_is_0600_even_where_the_old_file_was_readable(
    tmp_path: Path,
) -> None:
    """The old writer opened the key with O_CREAT 0600, which leaves an existing file's
    mode as it was: a key file that someone had made 0644 stayed world-readable with
    the new key in it."""
    key = tmp_path / "epp.key"
    key.write_text("old")
    key.chmod(0o644)
    make_self_signed(tmp_path / "epp.pem", key, "localhost")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in key.read_text()

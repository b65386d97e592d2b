"""The on-disk audit key: mode 0600, never overwritten, public half exportable for auditors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from tldsec.audit.signing import (
    Ed25519Signer,
    FileAuditSigner,
    key_id_of,
    load_public_key,
    public_key_pem,
    verify_signature,
)
from tldsec.errors import AuditError


def test_a_created_key_file_is_mode_0600_and_loads_as_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "audit-key.pem"
    signer = FileAuditSigner.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = FileAuditSigner.load(path)
    assert loaded.key_id == signer.key_id
    signature = loaded.sign(b"statement")
    assert verify_signature(signer.public_key(), signature, b"statement")


def test_an_existing_key_file_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "audit-key.pem"
    FileAuditSigner.create(path)
    before = path.read_bytes()
    with pytest.raises(AuditError, match="already exists"):
        FileAuditSigner.create(path)
    assert path.read_bytes() == before


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit-key.pem"
    FileAuditSigner.create(path)
    path.chmod(0o644)
    with pytest.raises(AuditError, match="mode 0644; it must be 0600"):
        FileAuditSigner.load(path)


def test_a_missing_key_file_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="run 'tldsec audit init'"):
        FileAuditSigner.load(tmp_path / "nope.pem")


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    with pytest.raises(AuditError, match="not an Ed25519 private key"):
        FileAuditSigner.load(path)


def test_the_public_key_round_trips_through_pem(tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    pem = public_key_pem(signer.public_key())
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    path = tmp_path / "audit.pub"
    path.write_bytes(pem)
    assert key_id_of(load_public_key(path)) == signer.key_id


def test_a_public_key_file_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pub"
    path.write_bytes(
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(AuditError, match="not an Ed25519 public key"):
        load_public_key(path)
    path.write_text("garbage")
    with pytest.raises(AuditError, match="not a PEM public key"):
        load_public_key(path)

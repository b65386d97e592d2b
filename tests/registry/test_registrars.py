"""Registrar accounts: argon2 hashes, certificate pinning, one answer for every failure."""

from __future__ import annotations

import pytest

from tests.fixtures.registry import RegistryWorld
from tldsec.errors import AuthenticationFailed, InvalidValue, ObjectExists
from tldsec.registry import registrars
from tldsec.registry.models import Registrar

FP = "ab" * 32


def test_password_is_stored_as_an_argon2id_hash(registry_world: RegistryWorld) -> None:
    registry_world.add_registrar("alpha", "secret-pw")
    with registry_world.db.read() as s:
        row = registrars.get_registrar(s, "alpha")
        assert isinstance(row, Registrar)
        assert row.password_hash.startswith("$argon2id$") and "secret-pw" not in row.password_hash


def test_authenticate(registry_world: RegistryWorld) -> None:
    registry_world.add_registrar("alpha", "secret-pw")
    with registry_world.db.write() as s:
        actor = registrars.authenticate(s, registry_world.tx(), "alpha", "secret-pw", None)
        assert actor.client_id == "alpha" and actor.registrar_id is not None
        for client, pw in (("alpha", "wrong-pw"), ("nobody", "secret-pw")):
            with pytest.raises(AuthenticationFailed, match=r"^authentication failed$"):
                registrars.authenticate(s, registry_world.tx(), client, pw, None)
    failures = [e for e in registry_world.events if e[0] == "epp.login.failed"]
    assert [e[2]["reason"] for e in failures] == ["wrong password", "unknown or disabled client id"]


def test_pinned_certificate_is_required(registry_world: RegistryWorld) -> None:
    registry_world.add_registrar("alpha", "secret-pw")
    with registry_world.db.write() as s:
        registrars.set_cert_fingerprint(s, registry_world.tx(), "alpha", ":".join(["AB"] * 32))
    with registry_world.db.write() as s:
        with pytest.raises(AuthenticationFailed):
            registrars.authenticate(s, registry_world.tx(), "alpha", "secret-pw", None)
        with pytest.raises(AuthenticationFailed):
            registrars.authenticate(s, registry_world.tx(), "alpha", "secret-pw", "cd" * 32)
        registrars.authenticate(s, registry_world.tx(), "alpha", "secret-pw", FP)


def test_new_password_at_login(registry_world: RegistryWorld) -> None:
    registry_world.add_registrar("alpha", "secret-pw")
    with registry_world.db.write() as s:
        registrars.authenticate(
            s, registry_world.tx(), "alpha", "secret-pw", None, new_password="other-pw"
        )
    with registry_world.db.write() as s:
        registrars.authenticate(s, registry_world.tx(), "alpha", "other-pw", None)


def test_refusals(registry_world: RegistryWorld) -> None:
    registry_world.add_registrar("alpha")
    with pytest.raises(ObjectExists):
        registry_world.add_registrar("alpha")
    with pytest.raises(InvalidValue, match="6-16 characters"):
        registry_world.add_registrar("beta", "short")
    with pytest.raises(InvalidValue, match="client id"):
        registry_world.add_registrar("x")
    with pytest.raises(InvalidValue, match="SHA-256"):
        registrars.normalize_fingerprint("abc")

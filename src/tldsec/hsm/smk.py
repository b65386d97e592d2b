"""The Storage Master Key in a token, made by the Security Officer (DPS 5.2.4, 5.2.5, 5.4).

Every DNSSEC key is created with CKA_WRAP_WITH_TRUSTED (``hsm/pkcs11.py``): the token
wraps it only under a key whose CKA_TRUSTED is true, and only a Security Officer session
can set CKA_TRUSTED (PKCS#11 v2.40 4.10; SoftHSM2 answers CKR_ATTRIBUTE_READ_ONLY in a
user session). So the SMK is created here, in an SO session, as the one trusted key:

- AES, sensitive, never extractable, trusted; it wraps and unwraps and does nothing else;
- its CKA_UNWRAP_TEMPLATE forces every key unwrapped under it to be sensitive, private,
  extractable only under a trusted key and not usable to derive keys, so a holder of the
  user PIN cannot unwrap an archived key as non-sensitive and read it;
- CKA_PRIVATE is false: an SO session can create public objects only (PKCS#11 v2.40
  5.6); the key's value is still sensitive, and the unwrap template refuses a key
  unwrapped without a login (it demands CKA_PRIVATE true);
- CKA_LOCAL is false, truthfully: its value comes from the token's random generator
  (``random``) but passes through the ceremony's memory to be split among its holders
  (``hsm/backup.py``; docs/decisions.md 20).

An SO login is exclusive in PKCS#11: no user session of the token may be open in the
process meanwhile, so the SO session is opened and closed on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from tldsec.errors import KeyStoreError, KeyStoreLoginError, KeyStoreUnavailable
from tldsec.hsm import p11lib, p11raw
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.p11errors import Where, pkcs11_errors

SMK_LABEL = "tldsec-smk"  # CKA_LABEL of Storage Master Keys (CKA_ID: the check value)
SMK_BYTES = 32  # AES-256

# What every key unwrapped under the SMK must be (CKA_UNWRAP_TEMPLATE): the protection
# every DNSSEC key has from birth (hsm/pkcs11.py _PRIVATE_KEY_TEMPLATE).
UNWRAPPED_KEY_TEMPLATE: dict[Attribute, bool] = {
    Attribute.SENSITIVE: True,
    Attribute.PRIVATE: True,
    Attribute.EXTRACTABLE: True,
    Attribute.WRAP_WITH_TRUSTED: True,
    Attribute.DERIVE: False,
}


# What the SMK and its archives need of a token (docs/hsm.md, "A vendor HSM").
SMK_MECHANISMS = {
    Mechanism.AES_KEY_WRAP_PAD: "wrap keys under the SMK (RFC 5649)",
    Mechanism.GENERIC_SECRET_KEY_GEN: "make an archive's MAC key",
    Mechanism.SHA256_HMAC: "MAC an archive",
}


def missing_mechanisms(offered: set[Mechanism]) -> list[str]:
    """The SMK's mechanisms a token does not offer, each with what it is for."""
    return [
        f"{mechanism.name} (to {why})"
        for mechanism, why in SMK_MECHANISMS.items()
        if mechanism not in offered
    ]


def smk_template(secret: bytes, check: str) -> dict[int, p11raw.Value]:
    """The SMK object: trusted, sensitive, never extractable, wrap and unwrap only."""
    return {
        Attribute.CLASS: int(ObjectClass.SECRET_KEY),
        Attribute.KEY_TYPE: int(KeyType.AES),
        Attribute.VALUE: secret,
        Attribute.ID: bytes.fromhex(check),
        Attribute.LABEL: SMK_LABEL.encode(),
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,  # an SO session makes public objects only (see above)
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.TRUSTED: True,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
        Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False,
        Attribute.SIGN: False,
        Attribute.VERIFY: False,
        Attribute.DERIVE: False,
        Attribute.UNWRAP_TEMPLATE: {int(k): v for k, v in UNWRAPPED_KEY_TEMPLATE.items()},
    }


@dataclass(frozen=True, slots=True)
class OfficerSession:
    """A Security Officer session on one token."""

    spec: KeyStoreSpec
    session: Any  # pkcs11.Session, logged in as SO

    @property
    def token_label(self) -> str:
        return str(self.spec.token_label)

    def random(self, size: int) -> bytes:
        """``size`` bytes from the token's random number generator (C_GenerateRandom)."""
        with self._errors("generate random bytes in"):
            value = bytes(self.session.generate_random(size * 8))
        if len(value) != size:
            raise KeyStoreError(f"token '{self.token_label}' gave {len(value)} random bytes")
        return value

    def holds(self, check: str) -> bool:
        """Whether the token holds the SMK with this check value."""
        with self._errors("find the Storage Master Key in"):
            return bool(
                list(
                    self.session.get_objects(
                        {
                            Attribute.CLASS: ObjectClass.SECRET_KEY,
                            Attribute.ID: bytes.fromhex(check),
                        }
                    )
                )
            )

    def install(self, secret: bytes, check: str) -> None:
        """Create the SMK from its value (see the module docstring for its attributes)."""
        if len(secret) != SMK_BYTES:
            raise KeyStoreError(f"a Storage Master Key is 32 bytes (AES-256), not {len(secret)}")
        if self.holds(check):
            raise KeyStoreError(
                f"token '{self.token_label}' already holds the Storage Master Key {check}"
            )
        assert self.spec.module is not None
        where = Where("install the Storage Master Key in", str(self.spec.module), self.token_label)
        p11raw.create_object(self.spec.module, self.session, smk_template(secret, check), where)

    def _errors(self, op: str) -> Any:
        return pkcs11_errors(Where(op, str(self.spec.module), self.token_label))


@contextmanager
def officer_session(spec: KeyStoreSpec, so_pin: str) -> Iterator[OfficerSession]:
    """An SO session on the spec's token, logged out and closed afterwards."""
    if spec.backend != "pkcs11" or spec.module is None or not spec.token_label:
        raise KeyStoreUnavailable(
            "the Storage Master Key needs an HSM: a pkcs11 key store with a module and a token"
        )
    with p11lib.calls():  # every call of the SO session, from opening to closing
        label = spec.token_label
        with p11lib.softhsm_lock(spec.softhsm2_conf):
            entry = p11lib.attach(spec.module, spec.softhsm2_conf)
            token = p11lib.find_token(entry, label)
            with pkcs11_errors(Where("list the mechanisms of", entry.path, label)):
                missing = missing_mechanisms(set(token.slot.get_mechanisms()))
            if missing:
                raise KeyStoreUnavailable(
                    f"token '{label}' in {entry.path} lacks {', '.join(missing)}: it cannot keep "
                    "a Storage Master Key for tldsec (docs/hsm.md, 'A vendor HSM')"
                )
            if token.slot.slot_id in entry.logins:
                raise KeyStoreError(
                    f"token '{label}' has a user session open in this process: the security "
                    "officer logs in alone (PKCS#11 allows one user type at a time)"
                )
            try:
                with pkcs11_errors(Where("log in as security officer to", entry.path, label)):
                    session = token.open(rw=True, so_pin=so_pin)
                p11lib.keep_record_copy(entry, token)  # SoftHSM2 rewrote it (decision 81)
            except KeyStoreLoginError as exc:
                raise KeyStoreLoginError(f"{exc} (the security officer's PIN)") from exc
        try:
            yield OfficerSession(spec, session)
        finally:
            with pkcs11_errors(Where("log out the security officer of", entry.path, label)):
                session.close()

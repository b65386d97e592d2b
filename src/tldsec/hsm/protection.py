"""Does the key store keep keys in it (DPS 5.2.5), and may the policy run on it if not?

Keys leave a PKCS#11 token only wrapped under the Security Officer's trusted SMK because
the token enforces CKA_WRAP_WITH_TRUSTED and keeps CKA_TRUSTED for SO sessions
(``hsm/smk.py``). A module that does not enforce them lets any holder of the user PIN take
keys out in clear. ``tldsec init`` asks the token (``Pkcs11KeyStore.
wrap_protection_enforced``) and the ``dps`` policy refuses such a module unless the
operator accepts it explicitly; either way the answer goes into the audit log.
"""

from __future__ import annotations

from tldsec.errors import ConfigError
from tldsec.hsm.base import KeyStore
from tldsec.hsm.pkcs11 import Pkcs11KeyStore

PRODUCTION_POLICY = "dps"
OVERRIDE_FLAG = "--accept-unenforced-key-protection"


def key_protection(store: KeyStore, policy_name: str, accept_unenforced: bool) -> str:
    """What protects the store's keys, for the audit log; ``ConfigError`` when the
    production policy meets a module that does not enforce it and nobody accepted that."""
    if not isinstance(store, Pkcs11KeyStore):
        return "none: keys are files on disk (not an HSM)"
    return protection_verdict(store.wrap_protection_enforced(), policy_name, accept_unenforced)


def protection_verdict(enforced: bool, policy_name: str, accept_unenforced: bool) -> str:
    """The decision alone (pure): the note to record, or ``ConfigError``."""
    if enforced:
        return "enforced: keys leave the token only wrapped under a trusted key"
    if policy_name != PRODUCTION_POLICY:
        return f"NOT enforced by the PKCS#11 module (policy {policy_name})"
    if accept_unenforced:
        return f"NOT enforced by the PKCS#11 module; accepted by the operator ({OVERRIDE_FLAG})"
    raise ConfigError(
        "the PKCS#11 module does not enforce CKA_WRAP_WITH_TRUSTED and CKA_TRUSTED, so a "
        "holder of the user PIN could take keys out in clear (DPS 5.2.5): the dps policy "
        f"refuses it. Use an HSM that enforces them (docs/hsm.md), or pass {OVERRIDE_FLAG}, "
        "which is recorded in the audit log"
    )

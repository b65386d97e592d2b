"""Whether a module keeps keys in it (DPS 5.2.5): SoftHSM2 does, asked the way ``tldsec
init`` asks it; and the dps policy refuses a module that does not unless the operator
accepts it (the decision alone: no module at hand fails to enforce it)."""

from __future__ import annotations

import pytest

from tldsec.errors import ConfigError
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.protection import OVERRIDE_FLAG, key_protection, protection_verdict


def test_softhsm2_enforces_wrap_with_trusted_and_the_try_leaves_nothing(
    softhsm_store: Pkcs11KeyStore,
) -> None:
    assert softhsm_store.wrap_protection_enforced()
    assert key_protection(softhsm_store, "dps", False).startswith("enforced")
    assert softhsm_store.list_keys() == []  # the try used session objects only


def test_the_dps_policy_refuses_an_unenforcing_module_unless_accepted() -> None:
    with pytest.raises(ConfigError, match="dps policy refuses it") as refused:
        protection_verdict(False, "dps", False)
    assert OVERRIDE_FLAG in str(refused.value)
    assert "accepted by the operator" in protection_verdict(False, "dps", True)
    assert "NOT enforced" in protection_verdict(False, "demo", False)
    assert protection_verdict(True, "dps", False).startswith("enforced")
    assert key_protection(MemoryKeyStore(), "dps", False).startswith("none")


def test_a_token_lacking_an_smk_mechanism_is_named() -> None:
    from pkcs11 import Mechanism

    from tldsec.hsm.smk import SMK_MECHANISMS, missing_mechanisms

    assert missing_mechanisms(set(SMK_MECHANISMS)) == []
    lacking = set(SMK_MECHANISMS) - {Mechanism.SHA256_HMAC}
    assert missing_mechanisms(lacking) == ["SHA256_HMAC (to MAC an archive)"]

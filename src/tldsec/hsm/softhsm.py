"""The embedded default HSM: a SoftHSM2 configuration and token inside the tldsec home.

``tldsec init`` calls ``init_softhsm_token``: it writes ``HOME/softhsm2.conf`` (tokens in
``HOME/tokens``, mode 0700) and initialises a token with a label, an SO PIN and a user
PIN through the PKCS#11 interface (C_InitToken, C_InitPIN), so no PIN ever appears on a
command line. A vendor HSM needs none of this: its token is set up with the vendor's
tools and tldsec is given the module path.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from pkcs11 import TokenFlag

from tldsec.errors import KeyStoreError, KeyStoreUnavailable
from tldsec.hsm import p11lib
from tldsec.hsm.p11errors import Where, pkcs11_errors
from tldsec.hsm.softhsm_library import find_softhsm2_module

CONF_NAME = "softhsm2.conf"
TOKENS_DIR = "tokens"
_LABEL_BYTES = 32  # CK_TOKEN_INFO.label: 32 octets, blank padded (PKCS#11 v2.40 3.2)
_PIN_LENGTHS = range(4, 256)  # SoftHSM2's minimum and maximum PIN length


def softhsm2_module() -> Path:
    """The SoftHSM2 PKCS#11 library; ``KeyStoreUnavailable`` if it is not installed."""
    module = find_softhsm2_module()
    if module is None:
        raise KeyStoreUnavailable(
            "the SoftHSM2 PKCS#11 library is not installed (Debian: apt install softhsm2), "
            "or set [keystore] module to your HSM's PKCS#11 library"
        )
    return module


def softhsm2_conf_text(tokendir: Path) -> str:
    """The SoftHSM2 configuration tldsec uses: file object store, errors logged only."""
    return (
        "# SoftHSM2 configuration written by tldsec (the embedded default HSM).\n"
        f"directories.tokendir = {tokendir}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
        "slots.mechanisms = ALL\n"
        "# A forked signing worker starts from a clean library and opens its own session.\n"
        "library.reset_on_fork = true\n"
    )


def write_softhsm2_conf(home: Path) -> Path:
    """Write ``HOME/softhsm2.conf`` unless it exists, and make ``HOME/tokens`` (0700)."""
    home = home.absolute()
    tokendir = home / TOKENS_DIR
    tokendir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tokendir.chmod(0o700)
    conf = home / CONF_NAME
    if not conf.exists():
        conf.write_text(softhsm2_conf_text(tokendir), "utf-8")
    return conf


def init_softhsm_token(home: Path, label: str, pin: str, so_pin: str) -> tuple[Path, Path]:
    """Initialise a new SoftHSM2 token in ``home``; return (conf path, module path).

    Refuses a label that is already taken (token labels name tokens; DESIGN: one token
    per label) and PINs SoftHSM2 would refuse.
    """
    encoded = label.encode("utf-8")
    if not label or len(encoded) > _LABEL_BYTES:
        raise KeyStoreError(f"token label {label!r} must be 1..{_LABEL_BYTES} octets")
    for name, value in (("user PIN", pin), ("SO PIN", so_pin)):
        if len(value.encode("utf-8")) not in _PIN_LENGTHS:
            raise KeyStoreError(f"the {name} must be 4..255 characters")
    module = softhsm2_module()
    conf = write_softhsm2_conf(home)
    with p11lib.softhsm_lock(conf):  # C_InitToken writes the token directory
        entry = p11lib.attach(module, conf)
        with pkcs11_errors(Where("list tokens", str(module), label)):
            tokens = list(entry.lib.get_tokens())
        if any(t.label == label and TokenFlag.TOKEN_INITIALIZED & t.flags for t in tokens):
            raise KeyStoreError(f"a token labelled '{label}' already exists ({conf})")
        free = [t for t in tokens if not TokenFlag.TOKEN_INITIALIZED & t.flags]
        if not free:
            raise KeyStoreUnavailable(f"SoftHSM2 ({conf}) offers no free slot for a new token")
        _c_init_token(module, free[0].slot.slot_id, so_pin, encoded)
        token = p11lib.find_token(entry, label)
        with pkcs11_errors(Where("set the user PIN of", str(module), label)):
            so_session = token.open(rw=True, so_pin=so_pin)
            try:
                so_session.init_pin(pin)  # C_InitPIN as security officer
            finally:
                so_session.close()
    return conf, module


def _c_init_token(module: Path, slot_id: int, so_pin: str, label: bytes) -> None:
    """C_InitToken, which python-pkcs11 does not wrap, on the already initialised module."""
    lib = ctypes.CDLL(str(module))  # the same handle python-pkcs11 loaded (dlopen refcount)
    init_token = lib.C_InitToken
    init_token.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    init_token.restype = ctypes.c_ulong
    pin = so_pin.encode("utf-8")
    rv = init_token(slot_id, pin, len(pin), label.ljust(_LABEL_BYTES, b" "))
    if rv != 0:
        raise KeyStoreError(
            f"C_InitToken failed for token '{label.decode()}' in {module}: CKR 0x{rv:08x}"
        )

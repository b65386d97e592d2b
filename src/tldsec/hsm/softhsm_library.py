"""Where the SoftHSM2 PKCS#11 library is installed (Debian packages or a source build).

Apart from ``hsm.softhsm`` so that the settings can name it without loading PKCS#11.
"""

from __future__ import annotations

from pathlib import Path

SOFTHSM2_MODULE_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
)


def find_softhsm2_module() -> Path | None:
    """The SoftHSM2 PKCS#11 library, where Debian or a source build puts it."""
    return next((p for p in SOFTHSM2_MODULE_CANDIDATES if p.exists()), None)

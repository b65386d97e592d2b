"""A SoftHSM2 token that is full for real: its directory moved onto a tmpfs with inodes
for a given number of tldsec keys more. Each key is three token objects (public,
private, and the key store's metadata), each an ``.object`` and a ``.lock`` file: six
inodes; SoftHSM2 then refuses the next key with CKR_GENERAL_ERROR and leaves no part
of it. Mounting needs root (CAP_SYS_ADMIN), as CI has; elsewhere the test is skipped.
On leaving, what the token holds is put back in its own directory (the token mended)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

INODES_PER_KEY = 6  # 3 objects (public, private, metadata) x (.object, .lock)


@contextmanager
def full_token(home: Path, keys: int) -> Iterator[Path]:
    """The home's one token directory, with room for ``keys`` keys more until the end
    of the ``with``."""
    (token,) = [p for p in (home / "tokens").iterdir() if p.is_dir()]
    saved = Path(tempfile.mkdtemp(prefix="tldsec-token-"))
    try:
        _copy(token, saved)
        used = len(list(token.iterdir())) + 1  # its files and the directory itself
        options = f"nr_inodes={used + keys * INODES_PER_KEY},mode=0700"
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tldsec-full-token", str(token)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            pytest.skip(f"a full token needs a tmpfs mount (root): {mounted.stderr.strip()}")
        try:
            _copy(saved, token)
            yield token
        finally:
            shutil.rmtree(saved)
            saved.mkdir()
            _copy(token, saved)
            subprocess.run(["umount", "--lazy", str(token)], check=True)
            for p in token.iterdir():
                p.unlink()
            _copy(saved, token)
    finally:
        shutil.rmtree(saved, ignore_errors=True)


def _copy(source: Path, target: Path) -> None:
    for p in source.iterdir():
        shutil.copy2(p, target / p.name)

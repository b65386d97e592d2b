"""Replacing a file atomically: a reader sees the old file or the complete new one.

Every file tldsec writes for another process to read (zones, indexes, patches,
differences, state) is written to a temporary file beside its target and renamed over
it only once it is complete; on any error the temporary file is removed and the target
is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def replacing(
    path: Path,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    fsync: bool = True,
    permissions: int | None = None,
    owner: tuple[int, int] | None = None,
) -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content to; renamed over ``path`` when the block
    ends without an error. ``fsync``: the data reaches the disk before the rename;
    ``permissions``: the file's mode (a temporary file starts as 0600); ``owner``: its
    (uid, gid), set before the rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as out:
            yield out
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        if permissions is not None:
            os.chmod(tmp, permissions)
        if owner is not None and owner != (os.geteuid(), os.getegid()):
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory if str(directory) else ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Writing a patched zone file: the previous file's unchanged byte ranges copied in the
kernel (``copy_file_range``), the edits' new bytes written between them, atomically.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import IO

from tldsec.atomicfile import replacing
from tldsec.dnscore.zonepatch import Edit


def write_patched(
    path: Path,
    old: mmap.mmap,
    old_fd: int,
    edits: list[Edit],
    chunks: list[list[bytes]],
) -> None:
    """The previous file with the edits applied, written beside ``path`` and renamed."""
    with replacing(path, permissions=0o644) as out:
        at = 0
        for edit, parts in zip(edits, chunks, strict=True):
            _copy_range(old, old_fd, out, at, edit.old_start - at)
            out.writelines(parts)
            at = edit.old_end
        _copy_range(old, old_fd, out, at, len(old) - at)


def _copy_range(old: mmap.mmap, old_fd: int, out: IO[bytes], start: int, length: int) -> None:
    """Copy bytes of the previous file in the kernel where it can (copy_file_range)."""
    if length <= 0:
        return
    out.flush()
    dst = out.fileno()
    try:
        while length > 0:
            n = os.copy_file_range(old_fd, dst, length, start)
            if n == 0:
                break
            start += n
            length -= n
    except OSError:
        pass
    if length > 0:
        os.lseek(dst, 0, os.SEEK_END)
        out.write(old[start : start + length])

"""Test helper: a ``ZonePatch`` between two signed zone files, made by a block-level
diff (difflib over owner blocks), so the IXFR tests need no incremental re-signer."""

from __future__ import annotations

import difflib
from pathlib import Path

from tldsec.dnscore.zonepatch import Edit, ZonePatch, patch_path


def owner_blocks(data: bytes) -> list[bytes]:
    """Runs of consecutive lines with the same first field (a comment line alone)."""
    blocks: list[bytes] = []
    owner: bytes | None = None
    for line in data.splitlines(keepends=True):
        first = line.split(None, 1)[0] if line.strip() else b""
        if blocks and owner == first and not first.startswith(b";"):
            blocks[-1] += line
        else:
            blocks.append(line)
        owner = first
    return blocks


def make_patch(old: Path, new: Path) -> ZonePatch:
    """The edits that turn ``old`` into ``new``, whole owner blocks at a time."""
    a, b = owner_blocks(old.read_bytes()), owner_blocks(new.read_bytes())
    a_at, b_at = [0], [0]
    for block in a:
        a_at.append(a_at[-1] + len(block))
    for block in b:
        b_at.append(b_at[-1] + len(block))
    edits = [
        Edit(a_at[i1], a_at[i2], b_at[j1], b_at[j2])
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if tag != "equal"
    ]
    return ZonePatch(old.name, a_at[-1], b_at[-1], tuple(edits))


def write_patch(old: Path, new: Path) -> ZonePatch:
    patch = make_patch(old, new)
    patch.save(patch_path(new))
    return patch

"""A zone patch made by comparing two signed zone files block by block (tests and the
benchmark only: the incremental re-signer writes the real ones).

Both files are cut into owner blocks (all lines of one owner; the header goes with the
first block); walking both in canonical order, equal blocks are unchanged and every run
of differing, added or removed blocks becomes one edit.
"""

from __future__ import annotations

from pathlib import Path

from tldsec.dnscore import names
from tldsec.dnscore.zonepatch import Edit, ZonePatch, patch_path


def owner_blocks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(canonical key of the owner, start, end) of each owner's run of lines."""
    out: list[tuple[bytes, int, int]] = []
    cache: dict[bytes, bytes] = {}
    pos = 0
    size = len(data)
    current: bytes | None = None
    start = 0
    while pos < size:
        end = data.find(b"\n", pos)
        end = size if end < 0 else end + 1
        line = data[pos:end]
        if line.strip() and not line.startswith((b";", b"$", b" ", b"\t")):
            owner = line.split(None, 1)[0].lower()
            if owner != current:
                if current is not None:
                    out.append((cache[current], start, pos))
                    start = pos
                current = owner
                if owner not in cache:
                    cache[owner] = names.canonical_key(names.to_wire(owner.decode()))
        pos = end
    if current is not None:
        out.append((cache[current], start, size))
    return out


def diff(old: bytes, new: bytes, previous_name: str) -> ZonePatch:
    """The patch that turns ``old`` into ``new``, owner block by owner block."""
    a, b = owner_blocks(old), owner_blocks(new)
    edits: list[Edit] = []
    i = j = 0
    run: list[int] | None = None  # [old_start, old_end, new_start, new_end]

    def extend(os_: int, oe: int, ns: int, ne: int) -> None:
        nonlocal run
        if run is not None and run[1] == os_ and run[3] == ns:
            run[1], run[3] = oe, ne
        else:
            close()
            run = [os_, oe, ns, ne]

    def close() -> None:
        nonlocal run
        if run is not None:
            edits.append(Edit(*run))
            run = None

    while i < len(a) or j < len(b):
        ka = a[i][0] if i < len(a) else None
        kb = b[j][0] if j < len(b) else None
        if ka is not None and kb is not None and ka == kb:
            _, os_, oe = a[i]
            _, ns, ne = b[j]
            same = old[os_:oe] == new[ns:ne] and (i or j or os_ == ns == 0)
            if same:
                close()
            else:
                extend(os_, oe, ns, ne)
            i += 1
            j += 1
        elif kb is None or (ka is not None and ka < kb):
            _, os_, oe = a[i]
            here = b[j][1] if j < len(b) else len(new)
            extend(os_, oe, here, here)
            i += 1
        else:
            _, ns, ne = b[j]
            here = a[i][1] if i < len(a) else len(old)
            extend(here, here, ns, ne)
            j += 1
    close()
    return ZonePatch(previous_name, len(old), len(new), tuple(edits))


def write_patch(previous: Path, candidate: Path) -> ZonePatch:
    """Diff the two files and save the patch beside the candidate."""
    patch = diff(previous.read_bytes(), candidate.read_bytes(), previous.name)
    patch.save(patch_path(candidate))
    return patch

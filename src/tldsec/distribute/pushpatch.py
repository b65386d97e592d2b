"""The difference push (decision 54, completing decision 49): when the primary serves the
serial the new zone was patched from, the signer sends only the new bytes of the
incremental re-sign's edits (``<serial>.zone.patch``, ``dnscore/zonepatch.py``), and the
primary rebuilds the new file from its own current file and those bytes.

The patch is a hint here as everywhere: the rebuilt file must hash to the offered
SHA-256, which the digest record and the verification gate's record name (the checks of
``receive.py`` run before any byte is sent), or the primary asks for the whole file on
the same connection. The patch is also kept beside the installed zone, so the store
reads the IXFR difference from the edited ranges (``ixfr.diff_patched``) instead of
parsing both whole files.

The header's ``patch``: ``from`` (the serial patched), ``from_sha256`` (its file's
SHA-256), ``previous`` and ``previous_size`` (as the patch file says), ``edits``
(``[old_start, old_end, new_start, new_end]`` each) and ``bytes`` (the new bytes of the
edits, what is sent).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tldsec.distribute.store import ZoneStore
from tldsec.dnscore.zonepatch import Edit, ZonePatch, ZonePatchError, load_for
from tldsec.filedigest import Digester, FileDigest, load_record

CHUNK = 1 << 20
WORTH = 0.5  # offer a patch only when its new bytes are at most this share of the file


def patch_header(store: ZoneStore, serial: int, size: int) -> dict[str, Any] | None:
    """The ``patch`` of the offer of ``serial`` (signer side), or None: no patch file, one
    that does not fit the previous serial's file and its digest record, or one whose new
    bytes are most of the file (the whole file is then as cheap)."""
    path = store.zone_path(serial)
    try:
        patch = ZonePatch.load(store.files(serial).patch)
    except ZonePatchError:
        return None
    stem = patch.previous.removesuffix(".zone")
    if not stem.isdigit() or patch.size != size:
        return None
    previous = store.zone_path(int(stem))
    record = load_record(previous)
    try:
        if record is None or load_for(path, previous) is None:
            return None
    except ZonePatchError:
        return None
    if record.size != patch.previous_size or patch.changed_bytes > WORTH * size:
        return None
    return {
        "from": int(stem),
        "from_sha256": record.sha256,
        "previous": patch.previous,
        "previous_size": patch.previous_size,
        "edits": [[e.old_start, e.old_end, e.new_start, e.new_end] for e in patch.edits],
        "bytes": patch.changed_bytes,
    }


def patch_of(header: dict[str, Any], size: int) -> ZonePatch:
    """The ``ZonePatch`` a header describes for a new file of ``size`` bytes;
    ``ZonePatchError`` (or ``ValueError``) if it does not hold together."""
    try:
        edits = tuple(Edit(*map(int, e)) for e in header["edits"])
        patch = ZonePatch(str(header["previous"]), int(header["previous_size"]), size, edits)
    except (KeyError, TypeError) as exc:
        raise ZonePatchError(f"the push header's patch lacks or garbles {exc}") from exc
    if patch.changed_bytes != int(header["bytes"]):
        raise ZonePatchError("the push header's patch counts other bytes than its edits")
    return patch


def rebuild(
    previous: Path, edits_file: Path, patch: ZonePatch, out: Path, block_size: int
) -> FileDigest:
    """Write ``out``: ``previous`` with ``patch``'s edits, their new bytes read in order
    from ``edits_file``; returns the digest of what was written (fsynced)."""
    digester = Digester(block_size)
    with (
        open(previous, "rb") as old,
        open(edits_file, "rb") as new_bytes,
        open(out, "wb") as dst,
    ):
        if os.fstat(old.fileno()).st_size != patch.previous_size:
            raise ZonePatchError(f"{previous} is not {patch.previous_size} bytes long")

        def copy(src: Any, length: int) -> None:
            while length > 0:
                data = src.read(min(CHUNK, length))
                if not data:
                    raise ZonePatchError(f"{src.name} ended early")
                dst.write(data)
                digester.update(data)
                length -= len(data)

        at = 0
        for e in patch.edits:
            copy(old, e.old_start - at)
            old.seek(e.old_end)
            copy(new_bytes, e.new_end - e.new_start)
            at = e.old_end
        copy(old, patch.previous_size - at)
        dst.flush()
        os.fsync(dst.fileno())
    return digester.finish()

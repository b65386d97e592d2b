"""The signature cache: reuse without re-reading the previous zone, and never from a
cache that belongs to another file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.signer.conftest import NOW, ZONE, Keys
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.signer import sign_zone
from tldsec.signer.sigcache import MAGIC, SignatureCache, cache_path


def first_run(keys: Keys, tmp_path: Path) -> Path:
    result = sign_zone(read_zone_text(ZONE, "example."), keys.config, keys.store, NOW)
    out = tmp_path / "signed.zone"
    write_zone_atomic(result.zone, out)
    SignatureCache.from_zone(result.zone).save(cache_path(out), out)
    return out


def test_reuse_from_the_cache_signs_nothing_new(keys: Keys, tmp_path: Path) -> None:
    out = first_run(keys, tmp_path)
    cache = SignatureCache.load_for(out, read_zone_text(ZONE, "example.").origin)
    assert cache is not None and len(cache) > 10
    again = sign_zone(
        read_zone_text(ZONE, "example."),
        keys.config,
        keys.store,
        NOW + timedelta(hours=1),
        previous=cache,
    )
    assert again.stats.signatures_made == 0


def test_a_cache_for_another_file_is_ignored(keys: Keys, tmp_path: Path) -> None:
    out = first_run(keys, tmp_path)
    with open(out, "a") as f:
        f.write("; edited by hand\n")
    assert SignatureCache.load_for(out, b"\x07example\x00") is None


def test_a_corrupt_or_missing_cache_is_ignored(keys: Keys, tmp_path: Path) -> None:
    out = first_run(keys, tmp_path)
    assert SignatureCache.load_for(out, b"\x05other\x00") is None
    cache_path(out).write_bytes(MAGIC + b"\x00garbage")
    assert SignatureCache.load_for(out, b"\x07example\x00") is None
    cache_path(out).unlink()
    assert SignatureCache.load_for(out, b"\x07example\x00") is None


def test_a_truncated_cache_is_ignored(keys: Keys, tmp_path: Path) -> None:
    out = first_run(keys, tmp_path)
    data = cache_path(out).read_bytes()
    cache_path(out).write_bytes(data[: len(data) // 2])
    assert SignatureCache.load_for(out, b"\x07example\x00") is None


def test_a_full_sign_writes_a_cache_only_when_asked(keys: Keys, tmp_path: Path) -> None:
    """decisions.md 13: off by default; a stale cache beside OUT is removed."""
    from tldsec.signer.files import sign_zone_file

    unsigned = tmp_path / "example.zone"
    unsigned.write_text(ZONE)
    out = tmp_path / "out.zone"
    cache_path(out).write_bytes(MAGIC + b"from an earlier run")
    sign_zone_file(unsigned, out, "example.", keys.config, keys.store, NOW)
    assert not cache_path(out).exists()

    sign_zone_file(unsigned, out, "example.", keys.config, keys.store, NOW, signature_cache=True)
    cache = SignatureCache.load_for(out, read_zone_text(ZONE, "example.").origin)
    assert cache is not None and len(cache) > 10

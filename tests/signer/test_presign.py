"""Presigning: a child signs the delegations' DS RRsets while the zone file is read.

The specification is simple: a run with a presigning child writes exactly the zone a run
without one writes (RSA PKCS#1 v1.5 signatures are deterministic), whatever the file's
DS lines look like, whether the child succeeds or not, and with signature reuse.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from tests.signer.conftest import NOW, Keys
from tldsec.dnscore.zonefile import read_zone
from tldsec.hsm.base import KeyStoreSpec
from tldsec.signconf import SigningConfig
from tldsec.signer import sign_zone
from tldsec.signer.output import write_signed_zone
from tldsec.signer.presign import start_presigning
from tldsec.signer.sign import SignResult, presign_delegations


def _digest(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest().upper()


def _zone_text() -> str:
    """Delegations with DS written every way a zone file may write them."""
    lines = [
        "$ORIGIN example.",
        "$TTL 86400",
        "example. 86400 IN SOA a.nic.example. hostmaster.nic.example. 1 1800 900 1209600 3600",
        "example. 86400 IN NS a.nic.example.",
        "a.nic.example. 86400 IN A 192.0.2.1",
    ]
    for i in range(40):
        owner = f"d{i}.example."
        lines.append(f"{owner} 86400 IN NS ns.hoster.net.")
        form = i % 8
        if form == 0:  # plain: the child signs it
            lines.append(f"{owner} 86400 IN DS {i} 8 2 {_digest(i)}")
        elif form == 1:  # two plain records, out of canonical order
            lines.append(f"{owner} 86400 IN DS {i + 1} 8 2 {_digest(i + 1)}")
            lines.append(f"{owner} 86400 IN DS {i} 8 2 {_digest(i)}")
        elif form == 2:  # relative owner, omitted TTL and class: not plain
            lines.append(f"d{i} DS {i} 8 2 {_digest(i)}")
        elif form == 3:  # a comment: not plain
            lines.append(f"{owner} 86400 IN DS {i} 8 2 {_digest(i)} ; key of 2026")
        elif form == 4:  # one plain and one relative record: the child sees half the set
            lines.append(f"{owner} 86400 IN DS {i} 8 2 {_digest(i)}")
            lines.append(f"d{i} 86400 IN DS {i + 7} 8 2 {_digest(i + 7)}")
        elif form == 5:  # parentheses: not plain
            lines.append(f"{owner} 86400 IN DS ( {i} 8 2\n {_digest(i)} )")
        elif form == 6:  # another TTL, plain
            lines.append(f"{owner} 3600 IN DS {i} 8 2 {_digest(i)}")
        # form 7: no DS
    lines.append("ns.d8.example. 86400 IN A 192.0.2.8")  # glue
    return "\n".join(lines) + "\n"


@pytest.fixture
def zone_file(tmp_path: Path) -> Path:
    path = tmp_path / "example.zone"
    path.write_text(_zone_text())
    return path


def _sign(
    keys: Keys,
    zone_file: Path,
    out: Path,
    *,
    presign: bool,
    spec: KeyStoreSpec | None = None,
    previous: Path | None = None,
    config: SigningConfig | None = None,
) -> tuple[str, SignResult]:
    cfg = config or keys.config
    presigned = None
    if presign:
        presigned = presign_delegations(zone_file, "example", cfg, keys.store, NOW, 2, min_bytes=0)
        assert presigned is not None
        if spec is not None:  # the same child, but with a key store it cannot open
            presigned.close()
            presigned = start_presigning(zone_file, "example", presigned.makers, spec, 2, 0)
        assert presigned is not None
        presigned.wait()  # all of it: these tests compare what the child signed
    zone = read_zone(zone_file, "example")
    prev = read_zone(previous, "example") if previous else None
    result = sign_zone(zone, cfg, keys.store, NOW, prev, workers=1, presigned=presigned)
    write_signed_zone(result.zone, out)
    return out.read_text(), result


def test_a_presigned_run_writes_the_same_zone_as_a_plain_run(
    keys: Keys, zone_file: Path, tmp_path: Path
) -> None:
    plain, plain_result = _sign(keys, zone_file, tmp_path / "plain", presign=False)
    presigned, result = _sign(keys, zone_file, tmp_path / "pre", presign=True)
    assert presigned == plain
    assert result.stats.signatures_made == plain_result.stats.signatures_made
    # Plain one-line DS RRsets only: forms 0, 1 and 6 (15 delegations of 40).
    assert result.stats.signatures_presigned == 15


def test_a_child_stopped_early_leaves_the_rest_to_the_main_run(
    keys: Keys, zone_file: Path, tmp_path: Path
) -> None:
    """The main run does not wait for the child: it takes what is signed and signs the
    rest (here, very likely, everything: the child is stopped at once)."""
    plain, _ = _sign(keys, zone_file, tmp_path / "plain", presign=False)
    presigned = presign_delegations(
        zone_file, "example", keys.config, keys.store, NOW, 2, min_bytes=0
    )
    result = sign_zone(
        read_zone(zone_file, "example"), keys.config, keys.store, NOW, presigned=presigned
    )
    write_signed_zone(result.zone, tmp_path / "pre")
    assert (tmp_path / "pre").read_text() == plain
    assert 0 <= result.stats.signatures_presigned <= 15


def test_a_failed_child_leaves_every_ds_to_the_main_run(
    keys: Keys, zone_file: Path, tmp_path: Path
) -> None:
    plain, _ = _sign(keys, zone_file, tmp_path / "plain", presign=False)
    broken = KeyStoreSpec(backend="file", directory=tmp_path / "no-such-key-directory")
    presigned, result = _sign(keys, zone_file, tmp_path / "pre", presign=True, spec=broken)
    assert presigned == plain
    assert result.stats.signatures_presigned == 0


def test_with_reuse_presigned_signatures_fill_only_what_is_not_reused(
    keys: Keys, zone_file: Path, tmp_path: Path
) -> None:
    # A previous zone signed with another ZSK: no ZSK signature can be reused.
    other = keys.store.generate_key(label="zsk2", algorithm=keys.zsk.algorithm, bits=1024)
    old_config = keys.make_config(other)
    _sign(keys, zone_file, tmp_path / "old", presign=False, config=old_config)
    plain, _ = _sign(keys, zone_file, tmp_path / "plain", presign=False, previous=tmp_path / "old")
    pre, result = _sign(keys, zone_file, tmp_path / "pre", presign=True, previous=tmp_path / "old")
    assert pre == plain
    assert result.stats.signatures_presigned == 15
    # The same keys as the previous run: everything is reused, nothing presigned is used.
    again, result = _sign(
        keys, zone_file, tmp_path / "again", presign=True, previous=tmp_path / "pre"
    )
    assert result.stats.signatures_presigned == 0
    assert result.stats.signatures_made == 0
    assert again == pre


def test_no_child_for_a_small_file_or_a_single_core(keys: Keys, zone_file: Path) -> None:
    assert presign_delegations(zone_file, "example", keys.config, keys.store, NOW, 2) is None
    assert (
        presign_delegations(zone_file, "example", keys.config, keys.store, NOW, 1, min_bytes=0)
        is None
    )
    assert (
        presign_delegations(
            zone_file.with_name("missing"), "example", keys.config, keys.store, NOW, 2, min_bytes=0
        )
        is None
    )


def test_a_refused_zone_stops_the_child(keys: Keys, tmp_path: Path) -> None:
    from tldsec.errors import ZoneContentError

    bad = tmp_path / "bad.zone"
    bad.write_text(_zone_text() + "x.d0.example. 86400 IN DS 1 8 2 " + _digest(1) + "\n")
    presigned = presign_delegations(bad, "example", keys.config, keys.store, NOW, 2, min_bytes=0)
    assert presigned is not None
    zone = read_zone(bad, "example")
    with pytest.raises(ZoneContentError, match=r"x\.d0\.example"):
        sign_zone(zone, keys.config, keys.store, NOW, presigned=presigned)
    assert not presigned.running()


def test_a_child_started_for_another_run_is_not_used(
    keys: Keys, zone_file: Path, tmp_path: Path
) -> None:
    """Its signatures would carry another validity window: the main run signs itself."""
    later = NOW + timedelta(hours=1)
    presigned = presign_delegations(
        zone_file, "example", keys.config, keys.store, NOW, 2, min_bytes=0
    )
    zone = read_zone(zone_file, "example")
    result = sign_zone(zone, keys.config, keys.store, later, presigned=presigned)
    write_signed_zone(result.zone, tmp_path / "pre")
    assert result.stats.signatures_presigned == 0
    zone = read_zone(zone_file, "example")
    plain = sign_zone(zone, keys.config, keys.store, later)
    write_signed_zone(plain.zone, tmp_path / "plain")
    assert (tmp_path / "pre").read_bytes() == (tmp_path / "plain").read_bytes()

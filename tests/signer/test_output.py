"""The parallel writer: the same bytes as the serial writer, atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.signer.conftest import NOW, ZONE, Keys
from tldsec.dnscore.zone import Zone
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.errors import SigningError
from tldsec.signer import sign_zone
from tldsec.signer.output import write_signed_zone

# The small zone plus enough delegations that every part holds a few owners.
BIG = ZONE + "".join(
    f"d{i} NS ns1.d{i}\nns1.d{i} A 192.0.2.{i % 250 + 1}\n"
    + (f"d{i} DS {i} 8 2 {'AB' * 32}\n" if i % 3 == 0 else "")
    for i in range(60)
)


@pytest.fixture(scope="module")
def signed(keys: Keys) -> Zone:
    return sign_zone(read_zone_text(BIG, "example."), keys.config, keys.store, NOW).zone


@pytest.mark.parametrize("part_owners", [1, 7, 50, 10_000])
@pytest.mark.parametrize("header", [None, "signed by tldsec\nsecond line"])
def test_parallel_output_is_byte_identical_to_the_serial_writer(
    signed: Zone, tmp_path: Path, part_owners: int, header: str | None
) -> None:
    one, two = tmp_path / "serial.zone", tmp_path / "parallel.zone"
    serial_sizes: list[int] = []
    serial_head = write_zone_atomic(signed, one, header, serial_sizes)
    sizes: list[int] = []
    head = write_signed_zone(
        signed,
        two,
        header=header,
        workers=3,
        block_sizes=sizes,
        part_owners=part_owners,
        parallel_min_owners=0,
    )
    assert two.read_bytes() == one.read_bytes()
    assert (head, sizes) == (serial_head, serial_sizes)
    assert head + sum(sizes) == len(two.read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parallel.zone", "serial.zone"]


def test_serial_fallback_for_small_zones_and_one_worker(signed: Zone, tmp_path: Path) -> None:
    one, two = tmp_path / "a.zone", tmp_path / "b.zone"
    write_zone_atomic(signed, one)
    write_signed_zone(signed, two, workers=1, parallel_min_owners=0)
    assert two.read_bytes() == one.read_bytes()
    write_signed_zone(signed, two, workers=4)  # under PARALLEL_MIN_OWNERS
    assert two.read_bytes() == one.read_bytes()


def test_a_failing_part_leaves_the_previous_files(keys: Keys, tmp_path: Path) -> None:
    zone = sign_zone(read_zone_text(BIG, "example."), keys.config, keys.store, NOW).zone
    out = tmp_path / "out.zone"
    out.write_text("old zone\n")
    last = zone.canonical_owners()[-1]
    zone.nodes[last][0].rdatas.append(b"\x01")  # no record type formats one octet
    with pytest.raises(SigningError, match="writing part"):
        write_signed_zone(zone, out, workers=2, part_owners=5, parallel_min_owners=0)
    assert out.read_text() == "old zone\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zone"]

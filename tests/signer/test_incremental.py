"""Incremental re-signing: patching the previous signed file gives the zone a full sign
gives, with valid signatures, and falls back to a full sign whenever patching is not sound.

The reference is always a full sign of the same unsigned file: the incremental output
must have the same records (unsigned data and the NSEC3 chain, byte for byte, in the same
order) and every RRset signed by the same keys, each signature valid.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import dns.dnssec
import dns.name
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.signer.conftest import NOW, ZONE, Keys
from tests.signer.test_properties import dnspython_rrset
from tldsec.clock import to_epoch
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone
from tldsec.dnscore.zonepatch import ZonePatch, patch_path
from tldsec.errors import ZoneContentError
from tldsec.policy import Algorithm, load_policy
from tldsec.signconf import SigningConfig
from tldsec.signer.files import FileSignResult, sign_zone_file
from tldsec.signer.rrsig import RrsigFields

# Delegations the edits below play with, beside those of the shared test zone.
BASE = ZONE + "".join(
    f"d{i} NS ns1.hoster.net.\nd{i} NS ns2.hoster.net.\n"
    + (f"d{i} DS {1000 + i} 8 2 {i:064X}\n" if i % 3 == 0 else "")
    for i in range(40)
)


def with_serial(text: str, serial: int) -> str:
    return text.replace("2024010100", str(serial), 1)


def sign(
    keys: Keys,
    tmp: Path,
    text: str,
    name: str,
    previous: Path | None = None,
    *,
    now_offset: timedelta = timedelta(0),
) -> tuple[Path, FileSignResult]:
    unsigned = tmp / f"{name}.unsigned-input"
    unsigned.write_text(text)
    out = tmp / f"{name}.signed"
    result = sign_zone_file(
        unsigned,
        out,
        "example.",
        keys.config,
        keys.store,
        NOW + now_offset,
        previous=previous,
        header=f"signed {name}",
    )
    return out, result


def records(path: Path) -> list[str]:
    """The file's records but RRSIGs, in file order."""
    lines = path.read_text().splitlines()
    return [line for line in lines if line and not line.startswith(";") and "\tRRSIG\t" not in line]


def assert_same_zone_as_full_sign(keys: Keys, patched: Path, full: Path, when: int) -> None:
    assert records(patched) == records(full)
    a, b = read_zone(patched, "example."), read_zone(full, "example.")
    assert a.nodes.keys() == b.nodes.keys()
    dnskey = a.get(a.origin, RRType.DNSKEY)
    assert dnskey is not None
    anchor = {dns.name.from_text("example."): dnspython_rrset(dnskey)}
    for owner, node in a.nodes.items():
        for rrset in node:
            other = b.get(owner, rrset.rtype)
            assert other is not None
            signers = sorted(RrsigFields.parse(s).key_tag for s in rrset.sigs)
            assert signers == sorted(RrsigFields.parse(s).key_tag for s in other.sigs)
            if rrset.sigs:
                dns.dnssec.validate(
                    dnspython_rrset(rrset), dnspython_rrset(rrset, sigs=True), anchor, now=when
                )


def assert_patch_rebuilds(previous: bytes, new: Path) -> None:
    patch = ZonePatch.load(patch_path(new))
    data = new.read_bytes()
    out = bytearray()
    at = 0
    for e in patch.edits:
        out += previous[at : e.old_start] + data[e.new_start : e.new_end]
        at = e.old_end
    out += previous[at:]
    assert bytes(out) == data


def test_only_the_soa_changed_is_patched_and_resigns_only_the_apex(
    keys: Keys, tmp_path: Path
) -> None:
    first, r1 = sign(keys, tmp_path, BASE, "one")
    assert r1.mode == "full"
    before = first.read_bytes()
    second, r2 = sign(keys, tmp_path, with_serial(BASE, 2024010101), "two", previous=first)
    assert r2.mode == "incremental", r2.why_full
    assert r2.serial == 2024010101
    assert r2.signatures_made == 1  # the SOA; the DNSKEY RRset's signature is reused
    assert (r1.unit, r2.unit, r2.signed) == ("rrsets", "owners", 1)  # the apex alone
    reference, _ = sign(keys, tmp_path, with_serial(BASE, 2024010101), "reference")
    assert_same_zone_as_full_sign(keys, second, reference, to_epoch(NOW))
    assert_patch_rebuilds(before, second)


def edit_zone(text: str, ops: list[tuple[str, int]]) -> str:
    """Apply edits that exercise every kind of change the chain and the cuts can see."""
    lines = text.splitlines()
    for op, i in ops:
        d = f"d{i}"
        if op == "drop-delegation":
            lines = [x for x in lines if not x.startswith(f"{d} ")]
        elif op == "add-delegation":
            lines += [
                f"new{i} NS ns1.new{i}",
                f"new{i} DS {i} 13 2 {i:064x}",
                f"ns1.new{i} A 192.0.2.{i}",
            ]
        elif op == "add-ds":
            lines.append(f"{d} DS {2000 + i} 13 2 {i + 7:064x}")
        elif op == "drop-ds":
            lines = [x for x in lines if not x.startswith(f"{d} DS")]
        elif op == "change-ns":
            lines = [
                x.replace("ns2.hoster.net.", "ns9.other.net.") if x.startswith(f"{d} ") else x
                for x in lines
            ]
        elif op == "deep-ent":
            lines.append(f"x{i}.y{i}.ent{i} NS ns.hoster.net.")
        elif op == "drop-glue-cut":
            lines = [x for x in lines if not x.startswith("glue-at-cut NS")]
        elif op == "cut-over-glue":
            lines.append("ns1.deep NS ns.hoster.net.")
            lines.append("deep NS ns.hoster.net.")
        elif op == "drop-secure-cut":
            lines = [x for x in lines if not x.startswith("secure ")]
        elif op == "orphan":
            lines.append(f"orphan{i}.gone A 192.0.2.{100 + i}")
        elif op == "drop-orphan":
            lines = [x for x in lines if not x.startswith("orphan.gone")]
    return "\n".join(dict.fromkeys(lines)) + "\n"  # no line twice


OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "drop-delegation",
                "add-delegation",
                "add-ds",
                "drop-ds",
                "change-ns",
                "deep-ent",
                "drop-glue-cut",
                "cut-over-glue",
                "drop-secure-cut",
                "orphan",
                "drop-orphan",
            ]
        ),
        st.integers(0, 39),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=st.lists(OPS, min_size=1, max_size=3))
def test_random_changes_patch_to_exactly_what_a_full_sign_gives(
    keys: Keys, tmp_path_factory: pytest.TempPathFactory, rounds: list[list[tuple[str, int]]]
) -> None:
    tmp = tmp_path_factory.mktemp("incremental")
    text = BASE
    previous, _ = sign(keys, tmp, text, "round0")
    for n, ops in enumerate(rounds, 1):
        text = with_serial(edit_zone(text, ops), 2024010100 + n)
        before = previous.read_bytes()
        try:
            reference, _ = sign(keys, tmp, text, f"reference{n}")
        except ZoneContentError as exc:  # e.g. a DS left without its NS
            with pytest.raises(ZoneContentError, match=re.escape(str(exc).split(":")[0])):
                sign(keys, tmp, text, f"round{n}", previous=previous)
            assert not (tmp / f"round{n}.signed").exists()
            return
        patched, result = sign(keys, tmp, text, f"round{n}", previous=previous)
        assert result.mode == "incremental", result.why_full
        assert_same_zone_as_full_sign(keys, patched, reference, to_epoch(NOW))
        assert_patch_rebuilds(before, patched)
        previous = patched


def test_signatures_due_for_refresh_are_renewed_in_a_patch(keys: Keys, tmp_path: Path) -> None:
    first, _ = sign(keys, tmp_path, BASE, "one")
    later = timedelta(days=3)  # validity 6-8 days, refresh at 4: some are due, some not
    second, result = sign(
        keys, tmp_path, with_serial(BASE, 2024010101), "two", previous=first, now_offset=later
    )
    assert result.mode == "incremental"
    assert result.signatures_made > 0
    limit = to_epoch(NOW + later) + int(keys.config.refresh.total_seconds())
    zone = read_zone(second, "example.")
    for rrset in zone.rrsets():
        for sig in rrset.sigs:
            assert RrsigFields.parse(sig).expiration > limit, rrset


def test_a_new_signing_key_means_a_full_sign(keys: Keys, tmp_path: Path) -> None:
    first, _ = sign(keys, tmp_path, BASE, "one")
    other = Keys()
    unsigned = tmp_path / "two.input"
    unsigned.write_text(with_serial(BASE, 2024010101))
    result = sign_zone_file(
        unsigned,
        tmp_path / "two.signed",
        "example.",
        other.config,
        other.store,
        NOW,
        previous=first,
    )
    assert result.mode == "full"
    assert result.why_full is not None and "keys" in result.why_full


def test_records_that_depend_on_the_lines_before_them_mean_a_full_sign(
    keys: Keys, tmp_path: Path
) -> None:
    first, _ = sign(keys, tmp_path, BASE, "one")
    text = with_serial(BASE, 2024010101) + 'txt TXT ( "spans"\n  "lines" )\n'
    _, result = sign(keys, tmp_path, text, "two", previous=first)
    assert result.mode == "full"
    assert result.why_full is not None and "parenthes" in result.why_full


def test_a_missing_or_stale_index_means_a_full_sign(keys: Keys, tmp_path: Path) -> None:
    first, _ = sign(keys, tmp_path, BASE, "one")
    with first.open("a") as f:
        f.write("; edited by hand\n")
    _, result = sign(keys, tmp_path, with_serial(BASE, 2024010101), "two", previous=first)
    assert result.mode == "full"
    assert result.why_full is not None and "index" in result.why_full


def test_a_content_error_in_a_patch_is_refused_like_in_a_full_sign(
    keys: Keys, tmp_path: Path
) -> None:
    first, _ = sign(keys, tmp_path, BASE, "one")
    text = with_serial(BASE, 2024010101) + "d5 CNAME elsewhere.net.\n"
    with pytest.raises(ZoneContentError, match="CNAME beside other data"):
        sign(keys, tmp_path, text, "two", previous=first)
    assert not (tmp_path / "two.signed").exists()


@pytest.mark.skipif(shutil.which("ldns-verify-zone") is None, reason="ldnsutils missing")
def test_a_patched_zone_validates_with_ldns(keys: Keys, tmp_path: Path) -> None:
    first, _ = sign(keys, tmp_path, BASE, "one")
    text = with_serial(
        edit_zone(BASE, [("add-delegation", 3), ("drop-delegation", 4), ("cut-over-glue", 0)]),
        2024010101,
    )
    second, result = sign(keys, tmp_path, text, "two", previous=first)
    assert result.mode == "incremental"
    run = subprocess.run(["ldns-verify-zone", str(second)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_record_given_twice_means_the_next_run_signs_in_full(keys: Keys, tmp_path: Path) -> None:
    twice = BASE + "d7 NS ns1.hoster.net.\n"
    first, _ = sign(keys, tmp_path, twice, "one")
    _, result = sign(keys, tmp_path, with_serial(twice, 2024010101), "two", previous=first)
    assert result.mode == "full"
    third, _ = sign(keys, tmp_path, with_serial(BASE, 2024010102), "three")
    _, result = sign(keys, tmp_path, with_serial(twice, 2024010103), "four", previous=third)
    assert result.mode == "full"
    assert result.why_full is not None and "twice" in result.why_full


def test_a_record_added_twice_in_other_words_means_a_full_sign(keys: Keys, tmp_path: Path) -> None:
    first, _ = sign(keys, tmp_path, BASE, "one")
    text = with_serial(BASE, 2024010101) + "d7 A 192.0.2.7\nd7 86400 A 192.0.2.7\n"
    _, result = sign(keys, tmp_path, text, "two", previous=first)
    assert result.mode == "full"
    assert result.why_full is not None and "twice" in result.why_full


def test_a_new_ksk_is_patched_in_at_the_apex(keys: Keys, tmp_path: Path) -> None:
    first, _ = sign(keys, tmp_path, BASE, "one")
    new_ksk = keys.store.generate_key(label="ksk2", algorithm=Algorithm.RSASHA256, bits=2048)
    both = SigningConfig.from_policy(
        load_policy(),
        (*keys.config.keys, keys.zone_key(new_ksk, ksk=True)),
    )
    unsigned = tmp_path / "two.input"
    unsigned.write_text(with_serial(BASE, 2024010101))
    out = tmp_path / "two.signed"
    result = sign_zone_file(unsigned, out, "example.", both, keys.store, NOW, previous=first)
    assert result.mode == "incremental", result.why_full
    zone = read_zone(out, "example.")
    dnskey = zone.get(zone.origin, RRType.DNSKEY)
    assert dnskey is not None and len(dnskey.rdatas) == 3
    assert len(dnskey.sigs) == 2  # one per KSK (RFC 4035 2.2)

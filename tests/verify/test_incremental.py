"""The incremental gate: pairs of signed zones (zone A published by a full verification,
then zone B re-signed from A with a few owners changed and a patch made by a block diff)
pass when B is good, and each fault is refused with the check and the record named --
including faults that lie in the ranges the patch says are unchanged."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.verify.conftest import NOW, ORIGIN, SERIAL, UNSIGNED, Case, Keys, Mutation, wire
from tests.verify.patching import write_patch
from tests.verify.test_corruption import FAULTS
from tldsec.dnscore import nsec3
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.dnscore.zonepatch import ZonePatch, patch_path
from tldsec.hsm.open import open_keystore
from tldsec.signer import sign_zone
from tldsec.signer.rrsig import rrsig_header, signed_data
from tldsec.verify.gate import EVENT_PASSED, GateResult
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.report import Status
from tldsec.zonefiles import ZoneFiles, load_state
from tldsec.zonegate import gate

# Zone B: a new delegation with glue below it, a DS added, a delegation removed, glue
# changed, and the serial moved on.
CHANGED = (
    UNSIGNED.replace(str(SERIAL), str(SERIAL + 1))
    .replace("xn--bcher-kva NS ns.hoster.net.\n", "")
    .replace("ns1.secure A 192.0.2.53", "ns1.secure A 192.0.2.153")
    + "newdom NS ns1.newdom\nnewdom NS ns.hoster.net.\nns1.newdom A 192.0.2.77\n"
    + "insecure DS 54321 13 2 "
    + "49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE3AC2D9F6D8E8A0C04E2A85E1\n"
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **details: Any) -> None:
        self.events.append((event, details))


@dataclass
class Pair:
    """Zone A published (full verification) in ``store``; zone B about to be gated."""

    dir: Path
    keys: Keys
    a: Zone
    anchor: Path
    store: Path
    options: VerifyOptions
    text: str = CHANGED

    @property
    def published_a(self) -> Path:
        return self.store / f"{SERIAL}.zone"

    def sign_b(self, text: str = CHANGED, edit: Callable[[Zone], None] | None = None) -> Zone:
        self.text = text  # the unsigned zone gate_b hands the gate
        zone = sign_zone(
            read_zone_text(text, ORIGIN), self.keys.config, self.keys.store, NOW, self.a
        )
        b = zone.zone
        if edit is not None:
            edit(b)
        return b

    def write_b(self, b: Zone) -> Path:
        candidate = self.dir / "b.signed"
        write_zone_atomic(b, candidate, header="zone B")
        write_patch(self.published_a, candidate)
        return candidate

    def gate_b(
        self,
        candidate: Path | None = None,
        *,
        now: datetime | None = None,
        recorder: Recorder | None = None,
        **options: Any,
    ) -> GateResult:
        candidate = candidate or self.write_b(self.sign_b())
        unsigned = self.dir / "b.zone"
        unsigned.write_text(self.text)
        return gate(
            VerifyRequest(candidate, ORIGIN, self.anchor, unsigned, previous=self.published_a),
            replace(self.options, **options),
            now or NOW + timedelta(seconds=10),
            publish_to=self.store / f"{SERIAL + 1}.zone",
            keystore=self.keys.store,
            opener=open_keystore,
            recorder=recorder,
        )


@pytest.fixture
def pair(tmp_path: Path, keys: Keys, good_zone: Zone) -> Pair:
    a = copy.deepcopy(good_zone)
    anchor = tmp_path / "example.ds"
    anchor.write_text(keys.ds())
    store = tmp_path / "store"
    store.mkdir()
    options = VerifyOptions(policy=keys.policy, external=(), second_sample=None)
    p = Pair(tmp_path, keys, a, anchor, store, options)
    return p


def publish_a(p: Pair, a: Zone | None = None) -> None:
    candidate = p.dir / "a.signed"
    write_zone_atomic(a or p.a, candidate, header="zone A")
    unsigned = p.dir / "a.zone"
    unsigned.write_text(UNSIGNED)
    result = gate(
        VerifyRequest(candidate, ORIGIN, p.anchor, unsigned),
        p.options,
        NOW + timedelta(seconds=5),
        publish_to=p.published_a,
        keystore=p.keys.store,
        opener=open_keystore,
    )
    assert result.passed, result.report.summary()
    assert result.report.meta["verification"]["mode"] == "full"


def how(result: GateResult) -> dict[str, Any]:
    info = result.report.meta["verification"]
    assert isinstance(info, dict)
    return info


def failed(result: GateResult, check: str) -> list[str]:
    assert not result.passed
    c = result.report.check(check)
    assert c.status is Status.FAILED, result.report.summary()
    return [str(f) for f in c.findings]


# --- good pairs --------------------------------------------------------------------------


def test_a_good_pair_passes_incrementally_and_is_recorded(pair: Pair) -> None:
    publish_a(pair)
    recorder = Recorder()
    result = pair.gate_b(recorder=recorder)
    assert result.passed, result.report.summary()
    assert how(result)["mode"] == "incremental"
    assert f"{SERIAL}.zone" in how(result)["reason"]
    statuses = {c.name: c.status for c in result.report.checks}
    assert statuses["unchanged-bytes"] is Status.PASSED
    assert statuses["signatures"] is Status.PASSED
    assert statuses["second-implementation"] is Status.PASSED
    assert statuses["content"] is Status.PASSED
    assert result.report.meta["edits"] >= 4
    [(event, details)] = recorder.events
    assert event == EVENT_PASSED and details["mode"] == "incremental"
    state = load_state(ZoneFiles(pair.store / f"{SERIAL + 1}.zone").verify_state)
    assert state is not None and state.mode == "incremental" and state.since_full == 1
    assert "mode: incremental" in result.report.summary()


def test_without_a_patch_or_a_record_the_gate_verifies_in_full(pair: Pair) -> None:
    publish_a(pair)
    candidate = pair.write_b(pair.sign_b())
    patch_path(candidate).unlink()
    result = pair.gate_b(candidate)
    assert result.passed and how(result)["mode"] == "full"
    assert "no zone patch" in how(result)["reason"]

    (pair.store / f"{SERIAL + 1}.zone").unlink()
    publish_a(pair)
    ZoneFiles(pair.published_a).verify_state.unlink()
    result = pair.gate_b()
    assert result.passed and how(result)["mode"] == "full"
    assert "no record" in how(result)["reason"]


def test_a_full_verification_comes_when_due(pair: Pair) -> None:
    publish_a(pair)
    result = pair.gate_b(full_every_cycles=1)
    assert how(result)["mode"] == "full" and "full_every_cycles" in how(result)["reason"]
    # Each gate's record describes the zone it published: publish A again each time.
    (pair.store / f"{SERIAL + 1}.zone").unlink()
    publish_a(pair)
    result = pair.gate_b(now=NOW + timedelta(hours=25))
    assert how(result)["mode"] == "full" and "full_every_hours" in how(result)["reason"]
    (pair.store / f"{SERIAL + 1}.zone").unlink()
    publish_a(pair)
    result = pair.gate_b(incremental=False)
    assert how(result)["mode"] == "full" and "off" in how(result)["reason"]


def test_a_key_change_brings_a_full_verification(pair: Pair) -> None:
    publish_a(pair)
    with pair.anchor.open("a") as f:  # the parent adds a DS: a KSK rollover begins
        f.write(f"{ORIGIN} 86400 IN DS 1 8 2 {'00' * 32}\n")
    result = pair.gate_b()
    assert result.passed and how(result)["mode"] == "full"
    assert "keys" in how(result)["reason"]


# --- faults ------------------------------------------------------------------------------


def test_a_byte_changed_in_an_unchanged_range_is_refused(pair: Pair) -> None:
    publish_a(pair)
    candidate = pair.write_b(pair.sign_b())
    patch = ZonePatch.load(patch_path(candidate))
    run = max(patch.unchanged(), key=lambda s: s.length)
    data = bytearray(candidate.read_bytes())
    at = run.new_start + run.length // 2
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    candidate.write_bytes(bytes(data))
    result = pair.gate_b(candidate)
    [finding] = failed(result, "unchanged-bytes")
    assert f"byte {at} of the candidate differs" in finding
    assert not (pair.store / f"{SERIAL + 1}.zone").exists()


def test_a_corrupted_signature_in_an_edited_owner_is_refused(pair: Pair) -> None:
    publish_a(pair)

    def flip(b: Zone) -> None:
        r = b.get(wire("insecure"), RRType.DS)
        assert r is not None
        sig = bytearray(r.sigs[0])
        sig[-10] ^= 0x01
        r.sigs = [bytes(sig)]

    result = pair.gate_b(pair.write_b(pair.sign_b(edit=flip)))
    assert how(result)["mode"] == "incremental"
    [finding] = failed(result, "signatures")
    assert finding.startswith("insecure.example. DS") and "does not verify" in finding


def _nsec3_of(zone: Zone, name: str) -> RRset:
    owner = nsec3.hashed_owner(nsec3.nsec3_hash(wire(name), b"", 0), wire(ORIGIN))
    r = zone.get(owner, RRType.NSEC3)
    assert r is not None
    return r


def test_an_nsec3_next_hash_broken_by_an_edit_is_refused(pair: Pair, keys: Keys) -> None:
    publish_a(pair)

    def break_chain(b: Zone) -> None:
        r = _nsec3_of(b, "newdom")
        rd = bytearray(r.rdatas[0])
        rd[6:26] = bytes(20)
        r.rdatas = [bytes(rd)]
        keys.resign(b, r)

    result = pair.gate_b(pair.write_b(pair.sign_b(edit=break_chain)))
    assert how(result)["mode"] == "incremental"
    findings = failed(result, "nsec3")
    assert any("but the next in the chain is" in f for f in findings), findings
    assert result.report.check("signatures").passed  # re-signed: only the chain is wrong


def test_a_new_cut_whose_occluded_names_stay_signed_is_refused(pair: Pair) -> None:
    publish_a(pair)
    orphan = wire("orphan.gone")
    old_node = copy.deepcopy(pair.a.nodes[orphan])
    old_nsec3 = copy.deepcopy(_nsec3_of(pair.a, "orphan.gone"))

    def keep_orphan_signed(b: Zone) -> None:
        b.nodes[orphan] = old_node  # as in zone A: signed, byte for byte the same lines
        b.add(old_nsec3)

    text = CHANGED + "gone NS ns.hoster.net.\n"
    candidate = pair.write_b(pair.sign_b(text, keep_orphan_signed))
    patch = ZonePatch.load(patch_path(candidate))
    data = candidate.read_bytes()
    line = data.index(b"orphan.gone.example.\t")
    assert not any(e.new_start <= line < e.new_end for e in patch.edits)  # not an edit
    result = pair.gate_b(candidate)
    assert how(result)["mode"] == "incremental"
    findings = failed(result, "coverage")
    assert any(
        f.startswith("orphan.gone.example. A") and "below a delegation is signed" in f
        for f in findings
    ), findings
    assert any("glue or occluded" in f for f in failed(result, "nsec3"))


def test_a_removed_ds_whose_rrsig_stays_is_refused(pair: Pair) -> None:
    publish_a(pair)
    text = CHANGED.replace("secure DS 12345", "; secure DS 12345")
    candidate = pair.write_b(pair.sign_b(text))
    old = pair.published_a.read_bytes()
    start = old.index(b"secure.example.\t86400\tIN\tRRSIG\tDS ")
    rrsig = old[start : old.index(b"\n", start) + 1]
    data = candidate.read_bytes()
    at = data.index(b"\nsecure.example.\t86400\tIN\tNS\t") + 1
    candidate.write_bytes(data[:at] + rrsig + data[at:])
    write_patch(pair.published_a, candidate)
    result = pair.gate_b(candidate)
    assert how(result)["mode"] == "incremental"
    findings = failed(result, "zone-file")
    assert any(
        f.startswith("secure.example. RRSIG") and "covers DS, which is not at this name" in f
        for f in findings
    ), findings


def test_a_signature_expiring_in_an_unchanged_range_is_refused(pair: Pair, keys: Keys) -> None:
    # Zone A: b.nic's A RRSIG (7 days, DPS 6.5) made 4.5 days ago expires in 2.5 days
    # (beyond A's horizon of 48 h 15 min).
    a = copy.deepcopy(pair.a)
    r = a.get(wire("b.nic"), RRType.A)
    assert r is not None
    inception = int(NOW.timestamp()) - 4 * 86400 - 12 * 3600
    header = rrsig_header(r, 8, keys.zsk_tag, a.origin, inception, inception + 7 * 86400)
    r.sigs = [header + keys.store.sign(keys.zsk.key_id, signed_data(header, r))]
    pair.a = a
    publish_a(pair, a)
    short = list(r.sigs)

    def keep_short_signature(b: Zone) -> None:
        rrset = b.get(wire("b.nic"), RRType.A)
        assert rrset is not None
        rrset.sigs = short  # the signer would refresh it; a faulty one might not

    # A day later the horizon has passed it; b.nic is not edited.
    candidate = pair.write_b(pair.sign_b(edit=keep_short_signature))
    result = pair.gate_b(candidate, now=NOW + timedelta(days=1))
    assert how(result)["mode"] == "incremental"
    findings = failed(result, "signatures")
    assert any(
        f.startswith("b.nic.example. A") and "earliest RRSIG in the file" in f for f in findings
    ), findings


@pytest.mark.parametrize("lie", ["self-consistent", "inconsistent"])
def test_a_patch_whose_sizes_lie_is_refused(pair: Pair, lie: str) -> None:
    publish_a(pair)
    candidate = pair.write_b(pair.sign_b())
    path = patch_path(candidate)
    body = json.loads(path.read_text())
    body["size"] += 7
    if lie == "self-consistent":
        body["previous_size"] += 7
    path.write_text(json.dumps(body))
    result = pair.gate_b(candidate)
    assert how(result)["mode"] == "incremental"
    findings = failed(result, "unchanged-bytes")
    expected = "the candidate has" if lie == "self-consistent" else "unusable zone patch"
    assert any(expected in f for f in findings), findings
    assert [c.name for c in result.report.checks] == ["unchanged-bytes"]


def test_a_patch_for_another_previous_zone_brings_a_full_verification(pair: Pair) -> None:
    publish_a(pair)
    candidate = pair.write_b(pair.sign_b())
    path = patch_path(candidate)
    body = json.loads(path.read_text())
    body["previous"] = "other.zone"
    path.write_text(json.dumps(body))
    result = pair.gate_b(candidate)
    assert result.passed and how(result)["mode"] == "full"
    assert "other.zone" in how(result)["reason"]


def test_ldns_verify_zone_checks_the_delta_and_finds_a_bad_signature(pair: Pair) -> None:
    import shutil

    if shutil.which("ldns-verify-zone") is None:
        pytest.skip("ldns-verify-zone is not installed")
    publish_a(pair)
    result = pair.gate_b(external=("ldns-verify-zone", "dnssec-verify", "kzonecheck"))
    assert result.passed, result.report.summary()
    assert result.report.check("external:ldns-verify-zone").status is Status.PASSED
    assert result.report.check("external:dnssec-verify").status is Status.SKIPPED
    (pair.store / f"{SERIAL + 1}.zone").unlink()
    publish_a(pair)

    def flip(b: Zone) -> None:
        r = b.get(wire("ns1.newdom"), RRType.A)
        assert r is not None  # glue: unsigned; flip the new DS's signature instead
        ds = b.get(wire("insecure"), RRType.DS)
        assert ds is not None
        sig = bytearray(ds.sigs[0])
        sig[-5] ^= 0x40
        ds.sigs = [bytes(sig)]

    result = pair.gate_b(
        pair.write_b(pair.sign_b(edit=flip)),
        external=("ldns-verify-zone",),
    )
    findings = failed(result, "external:ldns-verify-zone")
    assert any("Bogus DNSSEC signature for insecure.example." in f for f in findings), findings


# --- a removed cut -----------------------------------------------------------------------

UNCUT = CHANGED.replace("secure NS ns1.secure\nsecure NS ns.hoster.net.\n", "").replace(
    "secure DS 12345", "; secure DS 12345"
)


def test_a_removed_cut_uncovers_names_that_must_now_be_signed(pair: Pair) -> None:
    publish_a(pair)
    result = pair.gate_b(pair.write_b(pair.sign_b(UNCUT)))
    assert result.passed, result.report.summary()
    assert how(result)["mode"] == "incremental"


def test_a_removed_cut_whose_uncovered_names_stay_unsigned_is_refused(pair: Pair) -> None:
    publish_a(pair)
    deep = wire("ns1.deep.secure")
    old_node = copy.deepcopy(pair.a.nodes[deep])

    def leave_as_glue(b: Zone) -> None:
        b.nodes[deep] = old_node  # unsigned, as it was below the cut

    result = pair.gate_b(pair.write_b(pair.sign_b(UNCUT, leave_as_glue)))
    assert how(result)["mode"] == "incremental"
    findings = failed(result, "coverage")
    assert any(f.startswith("ns1.deep.secure.example. A") and "not signed" in f for f in findings)


# --- the corruption suite, on an incremental run -------------------------------------------

# Zone B keeps every name of zone A (the suite's faults name them) and adds a delegation.
GROWN = UNSIGNED.replace(str(SERIAL), str(SERIAL + 1)) + "newdom NS ns.hoster.net.\n"
# Faults that change what the unchanged bytes were verified against, or the previous zone:
# the gate runs in full (or they need a previous zone of their own).
# A new DNSKEY RRset, NSEC3PARAM or trust anchor changes what unchanged bytes were
# verified against: those candidates are verified in full.
NOT_INCREMENTAL = {
    "trust anchor matches no KSK",
    "wrong NSEC3PARAM",
    "2048-bit ZSK",
    "1024-bit KSK",
    "RSASHA512 zone",
    "RSASHA512 signatures",
    "DNSKEY protocol 2",
    "revoked DNSKEY",
    "NSEC3PARAM salt",
    "NSEC3PARAM iterations",
}
# An NSEC3 changed for a name that was not edited: the incremental run cannot say whose
# (the hash is one-way), so it names the NSEC3 record instead.
INCREMENTAL_FINDING = {
    "missing NSEC3": ("", "the NSEC3 of a name that was not edited is gone"),
    "extra NSEC3": ("0123456789abcdefghijklmnopqrstuv.example.", "matches no edited name"),
    "wrong type bitmap": ("", "type bitmap changed, but the name it belongs to was not edited"),
    "NSEC3 for a glue name": ("", "matches no edited name"),
}


@pytest.mark.parametrize(
    ("fault", "mutate", "check", "owner", "reason"),
    [f for f in FAULTS if f[2] != "serial"],
    ids=[f[0] for f in FAULTS if f[2] != "serial"],
)
def test_every_fault_of_the_corruption_suite_is_refused_incrementally(
    pair: Pair, fault: str, mutate: Mutation, check: str, owner: str, reason: str
) -> None:
    publish_a(pair)
    b = pair.sign_b(GROWN)
    unsigned = pair.dir / "b.zone"
    unsigned.write_text(GROWN)
    case = Case(pair.dir, pair.keys, b, pair.dir / "b.signed", unsigned, pair.anchor)
    mutate(case)
    case.write()
    write_patch(pair.published_a, case.signed)
    result = gate(
        VerifyRequest(case.signed, ORIGIN, case.anchor, case.unsigned, previous=pair.published_a),
        pair.options,
        NOW + timedelta(seconds=10),
        publish_to=pair.store / f"{SERIAL + 1}.zone",
        keystore=pair.keys.store,
        opener=open_keystore,
    )
    assert how(result)["mode"] == ("full" if fault in NOT_INCREMENTAL else "incremental")
    owner, reason = INCREMENTAL_FINDING.get(fault, (owner, reason))
    assert not result.passed
    found = result.report.check(check)
    assert found.status is Status.FAILED, result.report.summary()
    assert any(reason in f.reason and (not owner or f.owner == owner) for f in found.findings), (
        result.report.summary()
    )


def test_a_previous_zone_touched_since_its_verification_brings_a_full_run(pair: Pair) -> None:
    publish_a(pair)
    stat = pair.published_a.stat()
    os.utime(pair.published_a, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    result = pair.gate_b()
    assert result.passed and how(result)["mode"] == "full"
    assert "no record that this gate verified and published" in how(result)["reason"]


def test_other_dps_numbers_bring_a_full_run(pair: Pair) -> None:
    # Zone A was verified against the DPS's numbers; a policy that deviates (another
    # name, a longer validity) changes what its unchanged bytes would have to meet.
    publish_a(pair)
    policy = pair.keys.policy
    lab = replace(
        policy,
        name="lab",
        signatures=replace(policy.signatures, validity_max=timedelta(days=9)),
    )
    result = pair.gate_b(policy=lab)
    assert result.passed, result.report.summary()
    assert how(result)["mode"] == "full"
    assert "what they are checked against changed" in how(result)["reason"]


def _flip_in_place(path: Path, marker: bytes) -> None:
    """One base64 character of the first line holding ``marker`` changed in place; the
    file keeps its inode, size and modification time (bit rot, issue 13 attack 3)."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    at = data.index(b"\n", data.index(marker)) - 5
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_previous_zone_that_differs_from_its_digest_is_not_built_on(pair: Pair) -> None:
    publish_a(pair)
    marker = b"\tRRSIG\tAAAA "  # a.nic AAAA: in the ranges the patch leaves alone
    _flip_in_place(pair.published_a, marker)
    assert load_state(ZoneFiles(pair.published_a).verify_state).describes(pair.published_a)  # type: ignore[union-attr]
    candidate = pair.write_b(pair.sign_b())
    # The candidate carries the same damaged bytes, as a patch of the damaged file would.
    _flip_in_place(candidate, marker)
    write_patch(pair.published_a, candidate)
    recorder = Recorder()
    result = pair.gate_b(candidate, recorder=recorder)
    assert how(result)["mode"] == "full"
    assert "not the bytes this gate verified" in how(result)["reason"]
    assert "differ from the record" in result.report.meta["previous_damaged"]
    assert failed(result, "signatures")
    [(_, details)] = recorder.events
    assert "previous_damaged" in details

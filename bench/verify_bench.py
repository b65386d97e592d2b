"""The verifier against the external validators, on the same signed zone, in one run.

    .venv/bin/python bench/verify_bench.py                      # 100,000 delegations
    .venv/bin/python bench/verify_bench.py -n 100000 -n 1000000
    .venv/bin/python bench/verify_bench.py --incremental -n 100000   # the gate's two modes

For each size: ``../shared/tools/gen_tld_zone.py`` makes the unsigned zone (same
arguments, same file), the real signer signs it on every core with in-memory keys (a
2048-bit KSK, a 1024-bit ZSK, the DPS policy), and then, one after another on the same
file:

* the built-in checks: everything of ``tldsec verify`` except the external validators
  and the second implementation (zone file, chain of trust, every RRSIG, coverage,
  NSEC3, TTLs, unsigned content), on every core;
* ``ldns-verify-zone``, ``dnssec-verify``, ``validns``, ``kzonecheck``;
* the second-implementation comparison (dnspython re-signing through the key store,
  here the in-memory store), in full and on the default sample.

With ``--incremental``: the same zone is published by a full gate run, then 1,000 of
its delegations change (500 name servers changed, 200 DS added, 150 delegations removed,
150 added; the serial moves on), the real signer re-signs it reusing the published
zone's signatures, and a zone patch is made by a block diff (``tests/verify/patching``,
until the incremental re-signer writes them). Then the gate runs on that candidate in
each mode, from outside as below: full (``[verify] incremental = false``) and
incremental, with the built-in checks only and with the default external validators.

Each runs as its own process tree; wall time and peak memory are measured from outside:
peak RSS summed over the tree's processes (an upper bound: forked workers share the
parent's pages) and peak PSS (shared pages counted once). Results: a Markdown table on
stdout, and bench/out/verify-<N>.json. Signed zones are kept in --workdir and reused
while their signatures are more than a day from expiry.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_tld_zone.py"
OUT = ROOT / "bench" / "out"
ORIGIN = "example."
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    seconds: float
    cpu_seconds: float  # user + system, over the whole process tree
    peak_rss_mib: float
    peak_pss_mib: float
    exit_status: int
    verdict: str


# --- measuring a process tree from outside -------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree_memory(root: int) -> tuple[int, int]:
    """(RSS sum, PSS sum) in bytes over ``root`` and its descendants."""
    tree = _children()
    todo, rss, pss = [root], 0, 0
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return rss, pss


def measure(name: str, argv: list[str]) -> tuple[Measurement, str]:
    """Run ``argv``, sampling its process tree's memory every 20 ms; CPU from wait4."""
    peak = [0, 0]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "LC_ALL": "C"}
        )
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                rss, pss = _tree_memory(proc.pid)
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    verdict = "ok" if proc.returncode == 0 else f"FAILED: {lines[-1] if lines else '?'}"
    return (
        Measurement(
            name,
            seconds,
            usage.ru_utime + usage.ru_stime,
            peak[0] / 2**20,
            peak[1] / 2**20,
            proc.returncode,
            verdict,
        ),
        text,
    )


# --- the zone ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Files:
    unsigned: Path
    signed: Path
    anchor: Path
    keys: Path  # the in-memory keys, as PEM, so the second-implementation run has them


def prepare(n: int, workdir: Path) -> Files:
    workdir.mkdir(parents=True, exist_ok=True)
    files = Files(
        unsigned=workdir / f"tld-{n}.zone",
        signed=workdir / f"tld-{n}.signed",
        anchor=workdir / f"tld-{n}.ds",
        keys=workdir / f"tld-{n}.keys.json",
    )
    if not files.unsigned.exists():
        print(f"generating {n:,} delegations ...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                "-n",
                str(n),
                "--tld",
                "example",
                "-o",
                str(files.unsigned),
            ],
            check=True,
        )
    fresh = (
        files.signed.exists()
        and files.keys.exists()
        and (time.time() - files.signed.stat().st_mtime < 86400)
    )
    if not fresh:
        print(f"signing {n:,} delegations on every core ...", file=sys.stderr)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--sign", str(files.unsigned), str(workdir)], check=True
        )
        print(f"  signed in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return files


def _memory_store(keys_file: Path | None = None) -> Any:
    """A named in-memory store (forked workers see it), with the benchmark's keys."""
    from cryptography.hazmat.primitives import serialization

    from tldsec.hsm.memory import MemoryKeyStore
    from tldsec.policy import Algorithm

    store = MemoryKeyStore(f"bench-{uuid.uuid4().hex}")
    if keys_file is not None:
        for item in json.loads(keys_file.read_text()):
            key = serialization.load_pem_private_key(item["pem"].encode(), password=None)
            store.add_private_key(
                key,  # type: ignore[arg-type]
                label=item["label"],
                algorithm=Algorithm(item["algorithm"]),
                key_id=item["key_id"],
            )
    return store


def _sign(unsigned: Path, workdir: Path) -> None:
    """Sign with fresh in-memory keys; write the zone, the DS anchor and the keys."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tldsec.dnscore import rdata
    from tldsec.dnscore.dnskey import ds_rdata
    from tldsec.dnscore.types import RRType
    from tldsec.dnscore.zonefile import read_zone, write_zone_atomic
    from tldsec.policy import Algorithm, load_policy
    from tldsec.signconf import SigningConfig, ZoneKey
    from tldsec.signer import sign_zone

    store = _memory_store()
    privates = {
        "ksk": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "zsk": rsa.generate_private_key(public_exponent=65537, key_size=1024),
    }
    ksk, zsk = (
        store.add_private_key(k, label=label, algorithm=Algorithm.RSASHA256)
        for label, k in privates.items()
    )
    keys = (
        ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
        ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
    )
    config = SigningConfig.from_policy(load_policy(), keys)
    stem = unsigned.with_suffix("")
    zone = read_zone(unsigned, ORIGIN)
    result = sign_zone(zone, config, store, datetime.now(UTC), workers=os.cpu_count() or 1)
    write_zone_atomic(result.zone, stem.with_suffix(".signed"))
    ds = ds_rdata(result.zone.origin, keys[0].dnskey_rdata, 2)
    stem.with_suffix(".ds").write_text(f"{ORIGIN} 86400 IN DS {rdata.to_text(RRType.DS, ds)}\n")
    exported = []
    for info in (ksk, zsk):
        pem = (
            privates[info.label]
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
        exported.append(
            {
                "key_id": info.key_id,
                "label": info.label,
                "algorithm": int(info.algorithm),
                "pem": pem,
            }
        )
    stem.with_suffix(".keys.json").write_text(json.dumps(exported))


# --- the runs ------------------------------------------------------------------------


def _builtin(files: Files) -> None:
    """One verify_zone run in this process, without the external validators and the
    second implementation; prints the report's JSON."""
    from tldsec.policy import load_policy
    from tldsec.verify.driver import verify_zone
    from tldsec.verify.options import VerifyOptions, VerifyRequest

    options = VerifyOptions(policy=load_policy(), external=(), second_sample=0)
    request = VerifyRequest(files.signed, ORIGIN, files.anchor, unsigned=files.unsigned)
    report = verify_zone(request, options, datetime.now(UTC))
    print(report.to_json())
    sys.exit(0 if report.passed else 1)


def _second_only(files: Files, sample: str) -> None:
    """Read the zone, then run only the second-implementation comparison; print JSON."""
    from tldsec.hsm.open import open_keystore
    from tldsec.verify import second
    from tldsec.verify.part import PartResult, check_second
    from tldsec.verify.zoneread import read_zone_file

    t0 = time.perf_counter()
    zone = read_zone_file(files.signed, ORIGIN).zone
    seconds_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    setup = second.SecondSetup.build(
        zone,
        _memory_store(files.keys),
        open_keystore,
        None if sample == "all" else int(sample),
        1,
        1,
        frozenset(),
    )
    out = PartResult(0)
    signed = [r for r in zone.rrsets() if r.sigs]
    workers = check_second(setup, signed, out, 0, 1, 0)
    check = second.result(
        out.second, out.summary.counts, time.perf_counter() - t0, f" with {workers} worker(s)"
    )
    print(json.dumps({"seconds_read": seconds_read, "check": check.to_dict()}))
    sys.exit(0 if check.passed else 1)


def run_size(n: int, workdir: Path, repeat: int = 2) -> dict[str, Any]:
    files = prepare(n, workdir)
    me = [sys.executable, __file__, "--files", str(files.signed)]
    horizon = timedelta(minutes=15) + timedelta(hours=48)
    runs: list[tuple[str, list[str]]] = [
        ("tldsec built-in checks", me),
        (
            "ldns-verify-zone",
            [
                "ldns-verify-zone",
                "-k",
                str(files.anchor),
                "-e",
                f"PT{int(horizon.total_seconds())}S",
                str(files.signed),
            ],
        ),
        ("dnssec-verify", ["dnssec-verify", "-q", "-o", ORIGIN, str(files.signed)]),
        ("validns", ["validns", "-z", ORIGIN, str(files.signed)]),
        ("kzonecheck", ["kzonecheck", "-o", ORIGIN, "--dnssec", "on", str(files.signed)]),
        ("second implementation, sample 2000", [*me, "--second", "2000"]),
        ("second implementation, every RRset", [*me, "--second", "all"]),
    ]
    results: list[Measurement] = []
    checks: dict[str, Any] = {}
    # The machine may be shared: every run but the long one is repeated, in turn, and
    # the fastest of its repeats is reported.
    best: dict[str, tuple[Measurement, str]] = {}
    for round_ in range(repeat):
        for name, argv in runs:
            if round_ and name.endswith("every RRset"):
                continue
            print(f"  {name} ...", file=sys.stderr)
            m, output = measure(name, argv)
            print(
                f"    {m.seconds:.1f} s ({m.cpu_seconds:.1f} s CPU), peak RSS "
                f"{m.peak_rss_mib:.0f} MiB, {m.verdict}",
                file=sys.stderr,
            )
            if name not in best or m.seconds < best[name][0].seconds:
                best[name] = (m, output)
    for name, argv in runs:
        m, output = best[name]
        results.append(m)
        if argv[: len(me)] == me and m.exit_status in (0, 1):
            try:
                doc = json.loads(output)
            except json.JSONDecodeError:
                checks[name] = {"output": output[-2000:]}
                continue
            if "checks" in doc:
                checks[name] = {c["name"]: c["seconds"] for c in doc["checks"]}
                checks[name]["meta"] = doc["meta"]
            else:
                checks[name] = {"read": doc["seconds_read"], **doc["check"]}
    return {
        "delegations": n,
        "signed_bytes": files.signed.stat().st_size,
        "cores": len(os.sched_getaffinity(0)),
        "load_average_after": os.getloadavg(),
        "repeats": repeat,
        "results": [asdict(m) for m in results],
        "check_seconds": checks,
    }


def table(result: dict[str, Any]) -> str:
    rows = result["results"]
    ldns = next(r for r in rows if r["name"] == "ldns-verify-zone")
    load = ", ".join(f"{x:.1f}" for x in result["load_average_after"])
    out = [
        f"### {result['delegations']:,} delegations "
        f"({result['signed_bytes'] / 2**20:.0f} MiB signed zone, {result['cores']} cores; "
        f"fastest of {result['repeats']} runs each; load average after: {load})",
        "",
        "| run | wall s | × ldns time | CPU s | peak RSS MiB (sum) | peak PSS MiB "
        "| × ldns RSS | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['name']} | {r['seconds']:.1f} | {r['seconds'] / ldns['seconds']:.2f} | "
            f"{r['cpu_seconds']:.1f} | {r['peak_rss_mib']:.0f} | {r['peak_pss_mib']:.0f} | "
            f"{r['peak_rss_mib'] / ldns['peak_rss_mib']:.2f} | {r['verdict']} |"
        )
    for name, info in result["check_seconds"].items():
        if "read" in info:
            out.append(
                f"| ↳ {name}: the comparison alone (after {info['read']:.1f} s reading) | "
                f"{info['seconds']:.1f} | {info['seconds'] / ldns['seconds']:.2f} | | | | | "
                f"{info['status']} |"
            )
    builtin = result["check_seconds"].get("tldsec built-in checks", {})
    if builtin:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in builtin.items() if isinstance(v, float))
        out += ["", f"Built-in checks, seconds per check (workers overlap the parent): {parts}."]
    return "\n".join(out)


# --- the gate's two modes on a pair of zones -------------------------------------------

CHANGES = {"ns": 500, "ds": 200, "removed": 150, "added": 150}


def _changed_unsigned(unsigned: Path, out: Path) -> None:
    """The unsigned zone with 1,000 delegations changed (see ``CHANGES``)."""
    import random

    lines = unsigned.read_text().splitlines(keepends=True)
    suffix = "." + ORIGIN
    groups: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        owner = line.split(" ", 1)[0]
        if line.startswith((";", "$")) or owner == ORIGIN or not owner.endswith(suffix):
            continue
        groups.setdefault(owner[: -len(suffix)].rsplit(".", 1)[-1], []).append(i)
    groups.pop("nic", None)
    wanted = sum(CHANGES.values())
    chosen = random.Random(len(groups)).sample(sorted(groups), min(wanted, len(groups)))
    drop: set[int] = set()
    extra: list[str] = []
    at = 0
    for kind, count in CHANGES.items():
        for label in chosen[at : at + count]:
            rows = groups[label]
            ns = [i for i in rows if " IN NS " in lines[i]]
            if kind == "ns":
                lines[ns[-1]] = lines[ns[-1]].rsplit(" ", 1)[0] + " ns9.bench-changed.net.\n"
            elif kind == "ds":
                extra.append(f"{label}.{ORIGIN} 86400 IN DS {1000 + at % 60000} 13 2 {'AB' * 32}\n")
            elif kind == "removed":
                drop.update(rows)
            at += 1
        if kind == "added":
            for k in range(count):
                for server in ("ns1.bench-new.net.", "ns2.bench-new.net."):
                    extra.append(f"bench-new-{k}.{ORIGIN} 86400 IN NS {server}\n")
    kept = [line for i, line in enumerate(lines) if i not in drop]
    text = "".join(kept + extra)
    head, _, rest = text.partition(" 2024010100 ")
    out.write_text(head + " 2024010101 " + rest)


def _sign_again(files: Files, unsigned: Path, out: Path) -> None:
    """Re-sign ``unsigned`` with the benchmark's keys, reusing the signatures of the
    signed zone (DPS 6.5), and write it."""
    from tldsec.dnscore.zonefile import read_zone, write_zone_atomic
    from tldsec.policy import load_policy
    from tldsec.signconf import SigningConfig, ZoneKey
    from tldsec.signer import sign_zone

    store = _memory_store(files.keys)
    keys = tuple(
        ZoneKey(
            i.key_id,
            257 if i.label == "ksk" else 256,
            i.algorithm,
            i.public_key,
            True,
            i.label == "ksk",
            i.label != "ksk",
        )
        for i in sorted(store.list_keys(), key=lambda i: i.label)
    )
    config = SigningConfig.from_policy(load_policy(), keys)
    previous = read_zone(files.signed, ORIGIN)
    zone = read_zone(unsigned, ORIGIN)
    result = sign_zone(zone, config, store, datetime.now(UTC), previous, os.cpu_count() or 1)
    write_zone_atomic(result.zone, out, header="re-signed by verify_bench")


@dataclass(frozen=True, slots=True)
class PairFiles:
    files: Files
    store: Path
    published: Path  # zone A as the gate published it
    state: Path  # the gate's record of it, restored before each run
    candidate: Path  # zone B, with its .patch beside it
    unsigned: Path  # zone B's unsigned input


def prepare_pair(n: int, workdir: Path) -> PairFiles:
    files = prepare(n, workdir)
    store = workdir / f"store-{n}"
    pair = PairFiles(
        files,
        store,
        store / "2024010100.zone",
        workdir / f"tld-{n}.verify-state.json",
        workdir / f"tld-{n}-b.signed",
        workdir / f"tld-{n}-b.zone",
    )
    if pair.candidate.exists() and pair.candidate.stat().st_mtime >= files.signed.stat().st_mtime:
        return pair
    print("changing 1,000 delegations and signing again ...", file=sys.stderr)
    _changed_unsigned(files.unsigned, pair.unsigned)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--pair-step", "sign", str(n), str(workdir)], check=True
    )
    print(f"  re-signed in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    subprocess.run(
        [sys.executable, __file__, "--pair-step", "publish", str(n), str(workdir)], check=True
    )
    return pair


def _pair_step(step: str, n: int, workdir: Path) -> None:
    pair = PairFiles(
        Files(
            workdir / f"tld-{n}.zone",
            workdir / f"tld-{n}.signed",
            workdir / f"tld-{n}.ds",
            workdir / f"tld-{n}.keys.json",
        ),
        workdir / f"store-{n}",
        workdir / f"store-{n}" / "2024010100.zone",
        workdir / f"tld-{n}.verify-state.json",
        workdir / f"tld-{n}-b.signed",
        workdir / f"tld-{n}-b.zone",
    )
    if step == "sign":
        _sign_again(pair.files, pair.unsigned, pair.candidate)
        return
    from tldsec.policy import load_policy
    from tldsec.verify.options import VerifyOptions, VerifyRequest
    from tldsec.zonefiles import ZoneFiles
    from tldsec.zonegate import gate

    if step == "publish":  # zone A through the full gate: published, and its record
        pair.store.mkdir(exist_ok=True)
        options = VerifyOptions(policy=load_policy(), external=(), second_sample=0)
        request = VerifyRequest(pair.files.signed, ORIGIN, pair.files.anchor)
        result = gate(request, options, datetime.now(UTC), publish_to=pair.published)
        result.raise_if_refused()
        shutil.copy(ZoneFiles(pair.published).verify_state, pair.state)
        sys.path.insert(0, str(ROOT))
        from tests.verify.patching import write_patch

        t0 = time.perf_counter()
        patch = write_patch(pair.published, pair.candidate)
        print(
            f"  patch: {len(patch.edits)} edits, {patch.changed_bytes} bytes "
            f"({time.perf_counter() - t0:.0f} s to diff)",
            file=sys.stderr,
        )
        return
    # A measured run: "full" or "incremental", "+external" for the default validators.
    from tldsec.hsm.open import open_keystore

    shutil.copy(pair.state, ZoneFiles(pair.published).verify_state)
    target = pair.store / "2024010101.zone"
    target.unlink(missing_ok=True)
    mode, _, external = step.partition("+")
    options = VerifyOptions(policy=load_policy(), incremental=mode == "incremental")
    if not external:
        options = replace(options, external=())
    request = VerifyRequest(
        pair.candidate, ORIGIN, pair.files.anchor, pair.unsigned, previous=pair.published
    )
    result = gate(
        request,
        options,
        datetime.now(UTC),
        publish_to=target,
        keystore=_memory_store(pair.files.keys),
        opener=open_keystore,
    )
    target.unlink(missing_ok=True)
    print(result.report.to_json())
    sys.exit(0 if result.passed else 1)


def run_pair(n: int, workdir: Path, repeat: int = 2, quick: bool = False) -> dict[str, Any]:
    pair = prepare_pair(n, workdir)
    me = [sys.executable, __file__, "--pair-step"]
    runs = [
        ("full gate, built-in checks", "full"),
        ("incremental gate, built-in checks", "incremental"),
        ("full gate, built-in checks + default validators", "full+external"),
        (
            "incremental gate, built-in checks + ldns-verify-zone on the delta",
            "incremental+external",
        ),
    ]
    if quick:  # the validators' whole-file times are in the table above
        runs = [r for r in runs if r[1] != "full+external"]
    best: dict[str, tuple[Measurement, str]] = {}
    for _ in range(repeat):
        for name, step in runs:
            print(f"  {name} ...", file=sys.stderr)
            m, output = measure(name, [*me, step, str(n), str(workdir)])
            print(
                f"    {m.seconds:.1f} s ({m.cpu_seconds:.1f} s CPU), {m.verdict}", file=sys.stderr
            )
            if name not in best or m.seconds < best[name][0].seconds:
                best[name] = (m, output)
    checks: dict[str, Any] = {}
    for name, (_m, output) in best.items():
        try:
            doc = json.loads(output)
        except json.JSONDecodeError:
            checks[name] = {"output": output[-2000:]}
            continue
        checks[name] = {c["name"]: round(c["seconds"], 2) for c in doc["checks"]}
        checks[name]["meta"] = doc["meta"]
        checks[name]["report_seconds"] = doc["seconds"]
    patch = json.loads(Path(str(pair.candidate) + ".patch").read_text())
    return {
        "delegations": n,
        "changed_delegations": sum(CHANGES.values()),
        "signed_bytes": pair.candidate.stat().st_size,
        "edits": len(patch["edits"]),
        "cores": len(os.sched_getaffinity(0)),
        "load_average_after": os.getloadavg(),
        "repeats": repeat,
        "results": [asdict(best[name][0]) for name, _ in runs],
        "check_seconds": checks,
    }


def pair_table(result: dict[str, Any]) -> str:
    rows = result["results"]
    full = rows[0]["seconds"]
    load = ", ".join(f"{x:.1f}" for x in result["load_average_after"])
    out = [
        f"### {result['delegations']:,} delegations, {result['changed_delegations']:,} changed "
        f"({result['signed_bytes'] / 2**20:.0f} MiB signed zone, {result['edits']} edits in the "
        f"patch, {result['cores']} cores; fastest of {result['repeats']} runs each; load average "
        f"after: {load})",
        "",
        "| gate run | wall s | × full built-in | CPU s | peak RSS MiB (sum) | staging copy s "
        "| checks s | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        info = result["check_seconds"].get(r["name"], {})
        staging = info.get("meta", {}).get("staging_seconds")
        checks = info.get("report_seconds")
        out.append(
            f"| {r['name']} | {r['seconds']:.1f} | {r['seconds'] / full:.2f} | "
            f"{r['cpu_seconds']:.1f} | {r['peak_rss_mib']:.0f} | "
            f"{'' if staging is None else f'{staging:.1f}'} | "
            f"{'' if checks is None else f'{checks:.1f}'} | {r['verdict']} |"
        )
    for name, info in result["check_seconds"].items():
        if "meta" in info:
            parts = ", ".join(
                f"{k} {v:.1f}"
                for k, v in info.items()
                if isinstance(v, float) and k != "report_seconds"
            )
            out += ["", f"{name}, seconds per check: {parts}."]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--delegations", type=int, action="append")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/tldsec-verify-bench"))
    ap.add_argument("--repeat", type=int, default=2, help="runs of each (the fastest counts)")
    ap.add_argument("--sign", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--second", default="off", help=argparse.SUPPRESS)
    ap.add_argument("--incremental", action="store_true", help="the gate's two modes")
    ap.add_argument(
        "--quick", action="store_true", help="with --incremental: no full run with validators"
    )
    ap.add_argument("--pair-step", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pair_step:
        _pair_step(args.pair_step[0], int(args.pair_step[1]), Path(args.pair_step[2]))
        return
    if args.sign:
        _sign(Path(args.sign[0]), Path(args.sign[1]))
        return
    if args.files:
        stem = args.files.with_suffix("")
        files = Files(
            stem.with_suffix(".zone"),
            args.files,
            stem.with_suffix(".ds"),
            stem.with_suffix(".keys.json"),
        )
        if args.second == "off":
            _builtin(files)
        else:
            _second_only(files, args.second)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    if args.incremental:
        for n in args.delegations or [100_000]:
            print(f"{n:,} delegations, the gate's two modes", file=sys.stderr)
            result = run_pair(n, args.workdir, args.repeat, args.quick)
            (OUT / f"verify-incremental-{n}.json").write_text(json.dumps(result, indent=2))
            print(pair_table(result))
            print()
        return
    for n in args.delegations or [100_000]:
        print(f"{n:,} delegations", file=sys.stderr)
        result = run_size(n, args.workdir, args.repeat)
        (OUT / f"verify-{n}.json").write_text(json.dumps(result, indent=2))
        print(table(result))
        print()


if __name__ == "__main__":
    main()

"""The verifier against the external validators, on the same signed zone, in one run.

    .venv/bin/python bench/verify_bench.py                      # 100,000 delegations
    .venv/bin/python bench/verify_bench.py -n 100000 -n 1000000

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
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
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
    from tldsec.verify.verifier import VerifyOptions, VerifyRequest, verify_zone

    options = VerifyOptions(policy=load_policy(), external=(), second_sample=0)
    request = VerifyRequest(files.signed, ORIGIN, files.anchor, unsigned=files.unsigned)
    report = verify_zone(request, options, datetime.now(UTC))
    print(report.to_json())
    sys.exit(0 if report.passed else 1)


def _second_only(files: Files, sample: str) -> None:
    """Read the zone, then run only the second-implementation comparison; print JSON."""
    from tldsec.hsm.open import open_keystore
    from tldsec.verify.second import SecondImplementationCheck
    from tldsec.verify.zoneread import read_zone_file

    t0 = time.perf_counter()
    zone = read_zone_file(files.signed, ORIGIN).zone
    seconds_read = time.perf_counter() - t0
    check = SecondImplementationCheck(
        zone,
        _memory_store(files.keys),
        sample=None if sample == "all" else int(sample),
        seed=1,
        workers=0,
        opener=open_keystore,
    ).result()
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--delegations", type=int, action="append")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/tldsec-verify-bench"))
    ap.add_argument("--repeat", type=int, default=2, help="runs of each (the fastest counts)")
    ap.add_argument("--sign", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--second", default="off", help=argparse.SUPPRESS)
    args = ap.parse_args()
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
    for n in args.delegations or [100_000]:
        print(f"{n:,} delegations", file=sys.stderr)
        result = run_size(n, args.workdir, args.repeat)
        (OUT / f"verify-{n}.json").write_text(json.dumps(result, indent=2))
        print(table(result))
        print()


if __name__ == "__main__":
    main()

"""Signing benchmark: tldsec (file and PKCS#11 key stores) against ldns-signzone and
dnssec-signzone on the same zone in the same run, plus the HSM's own ceiling.

usage: .venv/bin/python bench/run_sign.py [-n 100000] [-n 1000000] [--skip-peers]
Zones come from ../shared/tools/gen_tld_zone.py (the generator every benchmark uses).
Prints a table with ratios and peak RSS; writes bench/out/sign-N.json and .md.
Same key sizes everywhere (KSK RSA-2048, ZSK RSA-1024, RSASHA256), NSEC3, 0 iterations,
no salt, no opt-out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_tld_zone.py"
ORIGIN = "example"
LAST_CPU = [0.0]


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of one command, its worker processes included.
    The command's CPU-seconds (user + system, workers included) go to ``LAST_CPU``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def make_zone(n: int) -> Path:
    path = OUT / f"zone-{n}.zone"
    if not path.exists():
        subprocess.run(
            [sys.executable, str(GENERATOR), "-n", str(n), "--tld", ORIGIN, "-o", str(path)],
            check=True,
            capture_output=True,
        )
    return path


def bumped_serial(zone: Path, changes: int) -> Path:
    """The same zone with a new SOA serial and ``changes`` delegations re-pointed."""
    out = zone.with_suffix(f".changed{changes}")
    changed = 0
    with open(zone) as src, open(out, "w") as dst:
        for line in src:
            parts = line.split()
            if len(parts) > 4 and parts[3] == "SOA":
                parts[6] = str(int(parts[6]) + 1)
                line = " ".join(parts) + "\n"
            elif (
                changed < changes
                and len(parts) == 5
                and parts[3] == "NS"
                and parts[0].count(".") == 2
                and parts[4].startswith("ns")
                and not parts[4].endswith(f"{ORIGIN}.")
                and hash(parts[0]) % 7 == 0
            ):
                line = f"{parts[0]} {parts[1]} IN DS 4242 13 2 {'AB' * 32}\n" + line
                changed += 1
            dst.write(line)
    return out


def setup_keys(work: Path, now: float) -> dict[str, Path]:
    from tldsec.hsm.base import KeyStoreSpec
    from tldsec.hsm.file import FileKeyStore, create_key_directory
    from tldsec.hsm.pkcs11 import Pkcs11KeyStore
    from tldsec.hsm.softhsm import init_softhsm_token
    from tldsec.policy import Algorithm

    files: dict[str, Path] = {}
    keydir = create_key_directory(work / "filekeys")
    store = FileKeyStore(keydir)
    ksk = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    files["file"] = work / "file-keys.json"
    files["file"].write_text(
        json.dumps(
            {
                "spec": {"backend": "file", "directory": str(keydir)},
                "ksk": ksk.key_id,
                "zsk": zsk.key_id,
                "now": now,
            }
        )
    )
    home = work / "hsm"
    home.mkdir(exist_ok=True)
    conf, module = init_softhsm_token(home, "bench", "1234", "5678")
    spec = KeyStoreSpec(
        backend="pkcs11", module=module, token_label="bench", pin="1234", softhsm2_conf=conf
    )
    p11 = Pkcs11KeyStore(spec)
    ksk = p11.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = p11.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    p11.close()
    files["pkcs11"] = work / "pkcs11-keys.json"
    files["pkcs11"].write_text(
        json.dumps(
            {
                "spec": {
                    "backend": "pkcs11",
                    "module": str(module),
                    "token_label": "bench",
                    "pin": "1234",
                    "softhsm2_conf": str(conf),
                },
                "ksk": ksk.key_id,
                "zsk": zsk.key_id,
                "now": now,
            }
        )
    )
    files["softhsm2_conf"] = conf
    # Keys for the peers, same sizes.
    for tool, args in (
        ("ldns", ["ldns-keygen", "-a", "RSASHA256"]),
        ("bind", ["dnssec-keygen", "-q", "-a", "RSASHA256", "-K"]),
    ):
        d = work / f"{tool}-keys"
        d.mkdir(exist_ok=True)
        if tool == "ldns":
            k = subprocess.run(
                [*args, "-b", "2048", "-k", ORIGIN],
                cwd=d,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            z = subprocess.run(
                [*args, "-b", "1024", ORIGIN], cwd=d, check=True, capture_output=True, text=True
            ).stdout.strip()
        else:
            k = subprocess.run(
                [*args, str(d), "-b", "2048", "-f", "KSK", ORIGIN],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            z = subprocess.run(
                [*args, str(d), "-b", "1024", ORIGIN], check=True, capture_output=True, text=True
            ).stdout.strip()
        files[f"{tool}-ksk"] = d / k
        files[f"{tool}-zsk"] = d / z
    return files


def bench(
    n: int, skip_peers: bool, ceiling_seconds: float, full_only: bool = False
) -> dict[str, object]:
    work = OUT / f"work-{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    zone = make_zone(n)
    now = time.time()
    keys = setup_keys(work, now)
    driver = [sys.executable, str(ROOT / "bench" / "sign_driver.py")]
    rows: dict[str, dict[str, float | str]] = {}

    def ours(
        name: str,
        backend: str,
        out: Path,
        zone_in: Path,
        previous: Path | None = None,
        later: float = 0.0,
    ) -> None:
        cmd = [*driver, str(zone_in), ORIGIN, str(out), "--keys", str(keys[backend])]
        if previous:
            cmd += ["--previous", str(previous), "--later-hours", str(later)]
        secs, rss, stdout = run_measured(cmd)
        rows[name] = {
            "seconds": secs,
            "rss_mib": rss,
            "cpu_seconds": LAST_CPU[0],
            **json.loads(stdout.splitlines()[-1]),
        }
        print(f"  {name:34s} {secs:8.1f} s {rss:8.0f} MiB {LAST_CPU[0]:8.1f} cpu-s", flush=True)

    print(f"zone: {n} delegations ({zone})", flush=True)
    load_start = os.getloadavg()[0]
    ours("tldsec file", "file", work / "file.signed", zone)
    ours("tldsec pkcs11 (SoftHSM2)", "pkcs11", work / "p11.signed", zone)
    soa_only = bumped_serial(zone, 0)
    if not full_only:
        ours(
            "tldsec pkcs11 re-sign, SOA changed",
            "pkcs11",
            work / "p11.resign",
            soa_only,
            work / "p11.signed",
            1.0,
        )
        changed = bumped_serial(zone, 1000)
        ours(
            "tldsec pkcs11 re-sign, 1000 changed",
            "pkcs11",
            work / "p11.resign1000",
            changed,
            work / "p11.signed",
            1.0,
        )
    signatures = int(rows["tldsec pkcs11 (SoftHSM2)"]["made"])  # type: ignore[call-overload]

    if not skip_peers:
        exp = datetime.fromtimestamp(now + 7 * 86400, UTC).strftime("%Y%m%d%H%M%S")
        inc = datetime.fromtimestamp(now - 3600, UTC).strftime("%Y%m%d%H%M%S")
        secs, rss, _ = run_measured(
            [
                "ldns-signzone",
                "-n",
                "-t",
                "0",
                "-i",
                inc,
                "-e",
                exp,
                "-f",
                str(work / "ldns.signed"),
                "-o",
                ORIGIN,
                str(zone),
                str(keys["ldns-ksk"]),
                str(keys["ldns-zsk"]),
            ]
        )
        rows["ldns-signzone"] = {"seconds": secs, "rss_mib": rss, "cpu_seconds": LAST_CPU[0]}
        print(f"  {'ldns-signzone':34s} {secs:8.1f} s {rss:8.0f} MiB", flush=True)
        secs, rss, _ = run_measured(
            [
                "dnssec-signzone",
                "-S",
                "-3",
                "-",
                "-H",
                "0",
                "-s",
                inc,
                "-e",
                exp,
                "-o",
                ORIGIN,
                "-f",
                str(work / "bind.signed"),
                "-K",
                str(keys["bind-ksk"].parent),
                "-x",
                "-d",
                str(work),
                str(zone),
            ]
        )
        rows["dnssec-signzone"] = {"seconds": secs, "rss_mib": rss, "cpu_seconds": LAST_CPU[0]}
        print(f"  {'dnssec-signzone':34s} {secs:8.1f} s {rss:8.0f} MiB", flush=True)

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from hsm_ceiling import hsm_ceiling_measured  # type: ignore[import-not-found]
        from tldsec.hsm.base import KeyStoreSpec

        meta = json.loads(keys["pkcs11"].read_text())["spec"]
        spec = KeyStoreSpec(
            backend="pkcs11",
            module=Path(meta["module"]),
            token_label=meta["token_label"],
            pin=meta["pin"],
            softhsm2_conf=Path(meta["softhsm2_conf"]),
        )
        rate, cpu_per_sig = hsm_ceiling_measured(
            spec, json.loads(keys["pkcs11"].read_text())["zsk"], ceiling_seconds
        )
        rows["SoftHSM2 ceiling (C_Sign loop)"] = {
            "seconds": signatures / rate,
            "rate": rate,
            "cpu_seconds": signatures * cpu_per_sig,
        }
        print(
            f"  {'SoftHSM2 ceiling (C_Sign loop)':34s} {signatures / rate:8.1f} s "
            f"({rate:.0f} sig/s)",
            flush=True,
        )
    except ImportError as exc:
        print(f"  HSM ceiling unavailable: {exc}")
    result = {
        "delegations": n,
        "signatures": signatures,
        "rows": rows,
        "cpus": os.cpu_count(),
        "load": f"{load_start:.1f}, {os.getloadavg()[0]:.1f}",
        "date": datetime.now(UTC).isoformat(),
    }
    (OUT / f"sign-{n}.json").write_text(json.dumps(result, indent=2))
    print(markdown(result))
    return result


def markdown(result: dict[str, object]) -> str:
    rows = result["rows"]
    assert isinstance(rows, dict)
    peers = [rows[k]["seconds"] for k in ("ldns-signzone", "dnssec-signzone") if k in rows]
    fastest_peer = min(peers) if peers else None
    ceiling = rows.get("SoftHSM2 ceiling (C_Sign loop)", {}).get("seconds")
    full = rows["tldsec pkcs11 (SoftHSM2)"]["seconds"]
    lines = [
        f"### {result['delegations']:,} delegations, {result['signatures']:,} signatures",
        "",
        "| run | seconds | peak RSS MiB | vs fastest peer | vs HSM ceiling | vs full sign "
        "| CPU-s | CPU vs ceiling's |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ceiling_cpu = rows.get("SoftHSM2 ceiling (C_Sign loop)", {}).get("cpu_seconds")
    for name, row in rows.items():
        secs = row["seconds"]
        rss = row.get("rss_mib")
        cpu = row.get("cpu_seconds")
        vp = f"{secs / fastest_peer:.2f}x" if fastest_peer else "-"
        vc = f"{secs / ceiling:.2f}x" if ceiling else "-"
        vf = f"{secs / full:.3f}x" if "re-sign" in name else "-"
        cs = f"{cpu:.1f}" if cpu else "-"
        cc = f"{cpu / ceiling_cpu:.2f}x" if cpu and ceiling_cpu else "-"
        rs = f"{rss:.0f}" if rss else "-"
        lines.append(f"| {name} | {secs:.1f} | {rs} | {vp} | {vc} | {vf} | {cs} | {cc} |")
    load = result.get("load")
    if load:
        lines.append(f"\nLoad average (1 min) at start and end: {load}")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-n", type=int, action="append", help="delegations (repeatable)")
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--full-only", action="store_true", help="no re-sign runs")
    p.add_argument("--ceiling-seconds", type=float, default=15.0)
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for n in args.n or [100_000]:
        result = bench(n, args.skip_peers, args.ceiling_seconds, args.full_only)
        (OUT / f"sign-{n}.md").write_text(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

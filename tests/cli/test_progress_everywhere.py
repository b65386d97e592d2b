"""Issue 22, item 4: the zone build, ``tldsec verify`` and every long stage of a cycle
report progress, off a terminal as periodic lines on stderr (here every call, with
``$TLDSEC_PROGRESS_SECONDS=0``), and ``--json`` output on stdout stays one clean
document."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.distribute.homes import seeded_home, zone_home

DOMAINS = 40
LINE = re.compile(r"^(?P<label>.+): (?P<done>[\d,]+)/(?P<total>[\d,]+) \(\d+%\) [\d,]+/s, ")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_home(tmp_path_factory.mktemp("progress"), DOMAINS)


def run(*args: str, interval: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TLDSEC_PROGRESS_SECONDS": interval}
    out = subprocess.run([sys.executable, "-m", "tldsec.cli.main", *args], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def progress(stderr: str) -> dict[str, list[tuple[int, int]]]:
    """Each label's (done, total) lines, in order."""
    found: dict[str, list[tuple[int, int]]] = {}
    for line in stderr.splitlines():
        m = LINE.match(line)
        if m:
            done, total = (int(m[k].replace(",", "")) for k in ("done", "total"))
            found.setdefault(m["label"], []).append((done, total))
    return found


def test_a_cycle_reports_build_signing_and_verify_and_its_json_stays_clean(home: Path) -> None:
    out = run("cycle", "--home", str(home), "--json")
    result = json.loads(out.stdout)  # nothing else on stdout
    assert result["outcome"] == "published", result
    seen = progress(out.stderr)
    checked = seen["cycle: build: checking delegations"]
    assert checked[-1] == (DOMAINS, DOMAINS)
    written = seen["cycle: build: writing records"]
    assert written[-1][0] == written[-1][1] > 2 * DOMAINS  # NS records at least
    read = seen["cycle: reconcile: zone file (bytes)"]  # the first cycle reconciles all
    assert read[-1] == (result["stats"]["unsigned_bytes"],) * 2
    assert seen["cycle: signing"][-1][0] == seen["cycle: signing"][-1][1] > 0
    rrsets = seen["cycle: verify: signatures (RRsets)"]
    assert len(rrsets) > 1 and rrsets[-1][0] == rrsets[-1][1]  # in steps, to the end
    assert [d for d, _ in rrsets] == sorted(d for d, _ in rrsets)


def test_verify_reports_its_signature_check_and_json_to_stdout_stays_clean(home: Path) -> None:
    dist = zone_home(home).dist
    if not (dist / "current").exists():
        run("cycle", "--home", str(home))
    zone = dist / f"{(dist / 'current').read_text().strip()}.zone"
    anchor = home / "ds.txt"
    anchor.write_text(run("keys", "export-ds", "--home", str(home)).stdout)
    out = run("verify", str(zone), "--home", str(home), "--trust-anchor", str(anchor),
              "--workers", "1", "--no-external", "--json", "-")  # fmt: skip
    assert json.loads(out.stdout)["passed"] is True
    rrsets = progress(out.stderr)["verify: signatures (RRsets)"]
    assert len(rrsets) > 1 and rrsets[-1][0] == rrsets[-1][1]

    quiet = run("verify", str(zone), "--home", str(home), "--trust-anchor", str(anchor),
                "--workers", "1", "--no-external", "--json", "-", interval="3600")  # fmt: skip
    assert len(progress(quiet.stderr)["verify: signatures (RRsets)"]) == 1  # the last only


def test_zone_build_reports_checking_and_writing(home: Path, tmp_path: Path) -> None:
    out = run("zone", "build", "--home", str(home), "-o", str(tmp_path / "unsigned.zone"))
    seen = progress(out.stderr)
    assert seen["zone build: checking delegations"][-1] == (DOMAINS, DOMAINS)
    assert seen["zone build: writing records"][-1][0] > 2 * DOMAINS

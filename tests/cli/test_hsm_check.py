"""``tldsec hsm check`` and the cycle's replica proof on a home with a second SoftHSM2
token as its [[keystore.replica]] (the second site): keys the replica lacks are an
incident in the command's exit status, the audit log, ``tldsec status`` and the cycle."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.distribute.homes import ORIGIN, tldsec, zone_home
from tldsec.clock import SystemClock
from tldsec.distribute.config import load_distribute_settings
from tldsec.service.supervisor import Service as Registry
from tldsec.settings import CONFIG_NAME, load_settings

REPLICA = """
[[keystore.replica]]
name = "site2"
token_label = "site2"
softhsm2_conf = "softhsm2.conf"
"""


def home_with_an_empty_replica(home: Path) -> Path:
    tldsec("init", "--home", str(home), "--origin", ORIGIN)
    pin = (home / "pin").read_text().strip()
    so_pin = (home / "so-pin").read_text().strip()
    # the second site's token, in a process of its own (its own PKCS#11 state)
    code = (
        "import sys; from pathlib import Path; from tldsec.hsm.softhsm import init_softhsm_token;"
        "init_softhsm_token(Path(sys.argv[1]), 'site2', sys.argv[2], sys.argv[3])"
    )
    subprocess.run([sys.executable, "-c", code, str(home), pin, so_pin], check=True)
    with open(home / CONFIG_NAME, "a", encoding="utf-8") as f:
        f.write(REPLICA + "\n[verify]\nexternal = []\n[cycle]\nworkers = 1\n")
    tldsec("db", "upgrade", "--home", str(home))
    return home


def test_keys_the_second_site_lacks_are_an_incident_everywhere(tmp_path: Path) -> None:
    home = home_with_an_empty_replica(tmp_path / "home")
    out = tldsec("hsm", "check", "--home", str(home), check=False)
    assert out.returncode == 1, out.stderr
    incidents = [line for line in out.stdout.splitlines() if line.startswith("INCIDENT ")]
    assert len(incidents) == 3  # KSK, ZSK, standby ZSK: in the zone, missing at site2
    assert all("replica site2:" in line and " missing" in line for line in incidents)
    assert "keystore:" in out.stdout and "proven" in out.stdout  # the primary holds them
    assert "3 INCIDENT(S)" in out.stdout.splitlines()[-1]

    status = tldsec("status", "--home", str(home)).stdout
    assert "replicas        3 INCIDENT(S) (keystore, replica site2" in status
    assert status.count("INCIDENT        replica site2:") == 3
    shown = tldsec("audit", "show", "--home", str(home), "--event", "hsm.replica_mismatch")
    assert shown.stdout.count("hsm.replica_mismatch") == 1

    # every cycle proves the keys before its key steps: the incident is its record too
    cycle = tldsec("cycle", "--home", str(home), "--json", check=False)
    result = json.loads(cycle.stdout)
    assert result["stats"]["replica_incidents"] == 3
    shown = tldsec("audit", "show", "--home", str(home), "--event", "hsm.replica_mismatch")
    assert shown.stdout.count("hsm.replica_mismatch") == 2


def test_serve_proves_the_keys_on_every_hsm_once_active_and_daily(tmp_path: Path) -> None:
    home = home_with_an_empty_replica(tmp_path / "home")
    settings = load_settings(home)
    registry = Registry(settings, SystemClock(), load_distribute_settings(settings), [])

    async def scenario() -> None:
        await registry._activate_stored()  # a demo home: activated from its stored PIN
        task = asyncio.create_task(registry.watch_replicas(86400))
        try:
            for _ in range(300):
                if (zone_home(home).root / "replicas.json").exists():
                    break
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await registry._deactivate_on_exit()

    asyncio.run(scenario())
    health = registry.health()
    assert health["status"] == "degraded"
    assert len(health["replicas"]["incidents"]) == 3
    assert all("replica site2:" in line for line in health["replicas"]["incidents"])
    shown = tldsec("audit", "show", "--home", str(home), "--event", "hsm.replica_mismatch")
    assert "component:serve" in shown.stdout

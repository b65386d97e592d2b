"""The production install of docs/operations.md, run exactly as documented.

Every shell block marked ``<!-- install-step -->`` in docs/operations.md is executed, in
order, in one bash (``set -euo pipefail``), with the variables the page defines at its
top pointed at a temporary home, a fresh SoftHSM2 token (``SOFTHSM2_CONF`` in a temp
directory), and fresh PostgreSQL databases and roles (an owner for the migrations, an
application role for the service). The steps end with a cycle and ``tldsec verify`` of
the published zone; the test then checks what the page promises of the result: the
service's role cannot change the schema nor the audit log, and ``init --existing`` run
again changes nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.postgres import ADMIN_URL

DOC = Path(__file__).parents[2] / "docs" / "operations.md"
MARK = "<!-- install-step -->"


def install_steps(text: str) -> list[str]:
    """The shell blocks marked as install steps, in the page's order."""
    steps: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        fence = lines[i + 1].strip()
        if fence != "```sh":
            raise AssertionError(f"docs/operations.md:{i + 2}: {MARK} must precede a ```sh block")
        end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
        steps.append("\n".join(lines[i + 2 : end]))
    return steps


def test_the_page_marks_its_steps() -> None:
    steps = install_steps(DOC.read_text("utf-8"))
    joined = "\n".join(steps)
    assert len(steps) >= 6
    for command in ("softhsm2-util --init-token", "CREATE DATABASE", "tldsec init --existing",
                    "tldsec backup keys", "tldsec cycle", "tldsec verify"):  # fmt: skip
        assert command in joined, command


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}")


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """Unique database and role names; whatever the steps made is dropped afterwards."""
    tag = uuid.uuid4().hex[:10]
    made = {"TLDSEC_DB": f"tldsec_inst_{tag}", "TLDSEC_OWNER": f"inst_own_{tag}",
            "TLDSEC_APP": f"inst_app_{tag}"}  # fmt: skip
    yield made
    with _admin() as admin:
        for suffix in ("registry", "signer", "audit"):
            admin.execute(f'DROP DATABASE IF EXISTS "{made["TLDSEC_DB"]}_{suffix}" WITH (FORCE)')
        for role in (made["TLDSEC_APP"], made["TLDSEC_OWNER"]):
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_the_documented_production_install_runs_and_its_zone_verifies(
    tmp_path: Path, names: dict[str, str]
) -> None:
    server = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    env = {
        **os.environ,
        **names,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TLDSEC_HOME": str(tmp_path / "home"),
        "TLDSEC_ORIGIN": "shop",
        "PGHOST": str(server.get("host", "127.0.0.1")),
        "PGPORT": str(server.get("port", "5432")),
        "PG_SUPERUSER": str(server.get("user", "postgres")),
        "TOKEN_LABEL": "shop",
        "SOFTHSM2_CONF": str(tmp_path / "softhsm2.conf"),
        "SO_DIR": str(tmp_path / "so"),
        "HOLDER_DIR": str(tmp_path / "holders"),
    }
    env.pop("TLDSEC_TEST_PG", None)
    script = "set -euo pipefail\n" + "\n".join(install_steps(DOC.read_text("utf-8")))
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                         timeout=900)  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "summary: 5 done, 0 already done" in run.stdout, out  # with the zone directory
    assert "2 backed up for the first time" in run.stdout, out
    assert re.search(r"cycle published serial \d+", run.stdout), out
    assert re.search(r"verification of shop\. serial \d+ .*: PASSED", run.stdout), out
    assert "chain of trust holds through KSK" in run.stdout, out
    home = tmp_path / "home"
    assert not (home / "pin").exists() and not (home / "so-pin").exists()  # DPS 4.2.4

    again = subprocess.run(
        ["tldsec", "init", "--existing", "--home", str(home), "--pin-file",
         str(tmp_path / "so" / "pin")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "summary: 0 done, 5 already done" in again.stdout
    assert "migrated" not in again.stdout and "created" not in again.stdout

    # The service's role: no schema changes, and the audit log is append-only.
    app = ADMIN_URL.replace("postgres@", f"{names['TLDSEC_APP']}@", 1).rsplit("/", 1)[0]
    with psycopg.connect(f"{app}/{names['TLDSEC_DB']}_registry", autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE intruder (x int)")
        assert conn.execute("SELECT count(*) FROM alembic_version_registry").fetchone()
    with psycopg.connect(f"{app}/{names['TLDSEC_DB']}_audit", autocommit=True) as conn:
        count = conn.execute("SELECT count(*) FROM audit_entries").fetchone()
        assert count is not None and count[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_entries")

"""A PostgreSQL cluster of the test's own (initdb and pg_ctl in a temporary directory,
on a free port, trust authentication on 127.0.0.1), so that a test may stop the
server under a running service and start it again. Run as the ``postgres`` user when
the tests run as root (initdb refuses root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.distribute.nameservers import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise AssertionError(f"{name} is missing: install the postgresql package")
    return found


@dataclass
class PgCluster:
    directory: Path
    port: int

    @classmethod
    def create(cls) -> PgCluster:
        directory = Path(tempfile.mkdtemp(prefix="tldsec-test-pg-"))
        data = directory / "data"
        cluster = cls(directory, free_port())
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        cluster._run(_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                     "--no-sync", "-E", "UTF8")  # fmt: skip
        cluster.start()
        return cluster

    def close(self) -> None:
        """Stop the server if it runs (after a test, whatever state it left), and remove
        its directory."""
        try:
            if (self.directory / "data" / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        out = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        if out.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: {out.stdout}\n{out.stderr}")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c fsync=off"
        )
        self._run(_bin("pg_ctl"), "-D", str(self.directory / "data"), "-o", options,
                  "-l", str(self.directory / "server.log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    def createdb(self, name: str) -> None:
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

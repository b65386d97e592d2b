"""PostgreSQL clusters of the test's own (initdb and pg_ctl in a temporary directory,
on a free port, trust authentication on 127.0.0.1), so that a test may stop the
server under a running service and start it again; and a pair of them, a primary and
its synchronous streaming standby (``PgPair``: the two sites of decision 50), whose
primary a test kills with SIGKILL and whose standby it promotes. Run as the
``postgres`` user when the tests run as root (initdb refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.distribute.nameservers import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise AssertionError(f"{name} is missing: install the postgresql package")
    return found


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PgCluster:
    directory: Path
    port: int
    # -c options given at every start (a standby's must differ from its primary's, so
    # they are not written to the data directory, which pg_basebackup copies).
    settings: dict[str, str] = field(default_factory=lambda: {"fsync": "off"})

    @classmethod
    def create(cls, settings: dict[str, str] | None = None) -> PgCluster:
        """A new cluster, started (initdb does not sync its files: what the server
        commits afterwards follows ``settings``)."""
        cluster = cls._new(settings)
        cluster._run(_bin("initdb"), "-D", str(cluster.data), "-U", "postgres", "-A", "trust",
                     "-E", "UTF8", "--no-sync")  # fmt: skip
        with (cluster.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        cluster.start()
        return cluster

    @classmethod
    def _new(cls, settings: dict[str, str] | None) -> PgCluster:
        directory = Path(tempfile.mkdtemp(prefix="tldsec-test-pg-"))
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        cluster = cls(directory, free_port())
        if settings is not None:
            cluster.settings = dict(settings)
        return cluster

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def close(self) -> None:
        """Stop the server if it runs (after a test, whatever state it left), and remove
        its directory."""
        try:
            if (self.data / "postmaster.pid").exists() and self.pids():
                self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, *argv: str, timeout: float = 120) -> str:
        out = subprocess.run(
            [*_as_postgres(), *argv], capture_output=True, text=True, timeout=timeout, check=False
        )
        if out.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: {out.stdout}\n{out.stderr}")
        return out.stdout

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} "
            + " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        )
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.directory / "server.log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def createdb(self, name: str) -> None:
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """One statement's rows, unaligned, without headers."""
        return self._run(_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                         "-d", database, "-XAtc", sql, timeout=30).strip()  # fmt: skip

    def pids(self) -> list[int]:
        """The postmaster and every process it started (none when it is not running)."""
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return []
        if not _alive(postmaster):
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def kill(self) -> None:
        """SIGKILL the postmaster and all its processes at once, as a site that loses power
        (a postmaster killed alone leaves its backends to finish their work). The
        postmaster is stopped first (SIGSTOP) so that it forks nothing between the listing
        of its children and their end: a backend forked then would outlive it, holding
        the postmaster-death pipe open, and its COMMIT would wait for ever."""
        pids = self.pids()
        if not pids:
            return
        os.kill(pids[0], signal.SIGSTOP)
        pids = self.pids()
        for pid in [*pids[1:], pids[0]]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids):
            if time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL processes {pids} outlived SIGKILL")
            time.sleep(0.02)
        left = self._in_data_directory()
        if left:
            raise AssertionError(f"PostgreSQL processes {left} outlived their postmaster")

    def _in_data_directory(self) -> list[int]:
        """Processes (of any parent) whose working directory is this cluster's data."""
        found = []
        for cwd in Path("/proc").glob("[0-9]*/cwd"):
            with contextlib.suppress(OSError):
                if Path(os.readlink(cwd)) == self.data and _alive(int(cwd.parent.name)):
                    found.append(int(cwd.parent.name))
        return found

    def promote(self) -> None:
        """A standby becomes a primary (``pg_ctl promote``, waiting until it accepts
        writes)."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-w", "promote")

    def is_primary(self) -> bool:
        return self.psql("SELECT pg_is_in_recovery()") == "f"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


STANDBY_NAME = "site_b"


@dataclass
class PgPair:
    """Site A's primary and site B's synchronous streaming standby: a commit returns
    only once B has flushed its WAL (``synchronous_standby_names``, ``synchronous_commit
    = on``), through a physical replication slot; ``promote`` makes B the primary."""

    primary: PgCluster
    standby: PgCluster

    @classmethod
    def create(cls) -> PgPair:
        # fsync stays on for both: the pair's point is what survives (small buffers keep
        # the start quick).
        common = {"shared_buffers": "16MB", "max_wal_senders": "4", "wal_level": "replica"}
        primary = PgCluster.create(
            {**common, "synchronous_standby_names": STANDBY_NAME, "synchronous_commit": "on"}
        )
        try:
            primary.psql("SELECT pg_create_physical_replication_slot('site_b')")
            standby = PgCluster._new({**common, "hot_standby": "on"})
            try:
                standby._run(_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                             "-U", "postgres", "-D", str(standby.data), "-R", "-S", "site_b",
                             "-X", "stream", "-c", "fast")  # fmt: skip
                with (standby.data / "postgresql.auto.conf").open("a") as conf:
                    conf.write(
                        f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres"
                        f" application_name={STANDBY_NAME}'\n"
                    )
                standby.start()
                pair = cls(primary, standby)
                pair.wait_synchronous()
                return pair
            except BaseException:
                standby.close()
                raise
        except BaseException:
            primary.close()
            raise

    def wait_synchronous(self, timeout: float = 60) -> None:
        """Until the primary sees B as its synchronous standby, streaming."""
        deadline = time.monotonic() + timeout
        query = (
            "SELECT sync_state || ' ' || state FROM pg_stat_replication"
            f" WHERE application_name = '{STANDBY_NAME}'"
        )
        while (state := self.primary.psql(query)) != "sync streaming":
            if time.monotonic() > deadline:
                raise AssertionError(f"the standby is not synchronous: {state!r}")
            time.sleep(0.1)

    def url(self, database: str) -> str:
        """A libpq multi-host URL naming both sites; libpq connects to whichever accepts
        writes (``target_session_attrs=read-write``)."""
        return (
            f"postgresql+psycopg://postgres@/{database}?host=127.0.0.1:{self.primary.port}"
            f"&host=127.0.0.1:{self.standby.port}&target_session_attrs=read-write"
            "&connect_timeout=5"
        )

    def socket_url(self, database: str) -> str:
        """The same multi-host URL by the servers' Unix socket directories: what a process
        in another network namespace reaches (a socket file is found by its path)."""
        return (
            f"postgresql+psycopg://postgres@/{database}?host={self.primary.directory}:"
            f"{self.primary.port}&host={self.standby.directory}:{self.standby.port}"
            "&target_session_attrs=read-write&connect_timeout=5"
        )

    def createdb(self, name: str) -> None:
        self.primary.createdb(name)

    def close(self) -> None:
        try:
            self.standby.close()
        finally:
            self.primary.close()


class PatroniMember(PgCluster):
    """One site's PostgreSQL under its Patroni agent (the agent starts and stops it)."""

    agent: subprocess.Popen[bytes] | None = None
    api_port: int = 0

    def kill(self) -> None:
        """The site dies: its agent and its PostgreSQL, with SIGKILL."""
        if self.agent is not None:
            self.agent.kill()
            self.agent.wait(30)
        super().kill()

    def promote(self) -> None:
        """Patroni promotes: wait until this member is the primary (at most a minute)."""
        deadline = time.monotonic() + 60
        while not self._answers("primary"):
            if time.monotonic() > deadline:
                raise AssertionError(f"Patroni did not promote {self.directory.name}")
            time.sleep(0.2)

    def _answers(self, role: str) -> bool:
        """Whether the agent's REST API says this member has ``role`` (200)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/{role}", timeout=2):
                return True
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.terminate()  # Patroni stops its PostgreSQL on SIGTERM
            try:
                self.agent.wait(60)
            except subprocess.TimeoutExpired:
                self.agent.kill()
        if self.pids():
            super().kill()


@dataclass
class PatroniPair:
    """Site A and site B under Patroni with one etcd (``synchronous_mode``, not strict):
    the same pair as ``PgPair``, promoted by Patroni instead of ``pg_ctl promote``."""

    primary: PatroniMember
    standby: PatroniMember
    etcd: subprocess.Popen[bytes]
    directory: Path

    @classmethod
    def create(cls) -> PatroniPair:
        for tool in ("patroni", "etcd"):
            if shutil.which(tool) is None:
                raise AssertionError(f"{tool} is missing: scripts/install-debian-deps installs it")
        directory = Path(tempfile.mkdtemp(prefix="tldsec-test-patroni-"))
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        client, peer = free_port(), free_port()
        etcd = _spawn(
            ["etcd", "--name", "e1", "--data-dir", str(directory / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"e1=http://127.0.0.1:{peer}"],
            directory / "etcd.log",
        )  # fmt: skip
        members: list[PatroniMember] = []
        pair: PatroniPair | None = None
        try:
            for site in ("a", "b"):
                member = PatroniMember(directory / site, free_port())
                member.api_port = free_port()
                member.directory.mkdir()
                if os.geteuid() == 0:
                    shutil.chown(member.directory, "postgres", "postgres")
                config = member.directory / "patroni.yml"
                config.write_text(_patroni_config(site, member, client))
                members.append(member)
                member.agent = _spawn(["patroni", str(config)], member.directory / "patroni.log")
                deadline = time.monotonic() + 180
                role = "primary" if site == "a" else "sync"
                while not member._answers(role):
                    if time.monotonic() > deadline or member.agent.poll() is not None:
                        log = (member.directory / "patroni.log").read_text()[-3000:]
                        raise AssertionError(f"Patroni site {site} is not {role}: {log}")
                    time.sleep(0.5)
            pair = cls(members[0], members[1], etcd, directory)
            return pair
        finally:
            if pair is None:
                for member in members:
                    member.stop()
                etcd.kill()
                etcd.wait(30)
                shutil.rmtree(directory, ignore_errors=True)

    def url(self, database: str) -> str:
        return PgPair.url(self, database)  # type: ignore[arg-type]

    def socket_url(self, database: str) -> str:
        return PgPair.socket_url(self, database)  # type: ignore[arg-type]

    def createdb(self, name: str) -> None:
        self.primary.createdb(name)

    def close(self) -> None:
        try:
            for member in (self.standby, self.primary):
                member.stop()
        finally:
            self.etcd.kill()
            self.etcd.wait(30)
            shutil.rmtree(self.directory, ignore_errors=True)


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A process of the postgres user (when root), its output to ``log``."""
    with log.open("wb") as out:
        user = "postgres" if os.geteuid() == 0 else None
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, user=user)


def _patroni_config(site: str, member: PatroniMember, etcd_port: int) -> str:
    """Patroni's YAML for one site: the synchronous settings of docs/operations.md."""
    # The server's own directory (a wrapper on the PATH lacks pg_controldata and the rest).
    bin_dir = str(Path(os.path.realpath(_bin("pg_ctl"))).parent)
    if not (Path(bin_dir) / "pg_controldata").exists():
        bin_dir = str(Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]).parent)
    return f"""\
scope: tldsec
name: site_{site}
restapi:
  listen: 127.0.0.1:{member.api_port}
  connect_address: 127.0.0.1:{member.api_port}
etcd3:
  host: 127.0.0.1:{etcd_port}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 3
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: false
      parameters:
        synchronous_commit: "on"
        wal_level: replica
        max_wal_senders: 4
        shared_buffers: 16MB
  initdb:
    - encoding: UTF8
    - auth: trust
  pg_hba:
    - host all all 127.0.0.1/32 trust
    - host replication postgres 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:{member.port}
  connect_address: 127.0.0.1:{member.port}
  data_dir: {member.data}
  bin_dir: {bin_dir}
  pgpass: {member.directory}/pgpass
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
  parameters:
    unix_socket_directories: {member.directory}
"""

"""The signing half of the two-site drill (issue 20 items 2-3, decision 53): two signer
homes with two SoftHSM2 tokens holding the same keys, ``tldsec serve --role signer`` as a
process per site (each in a network namespace of its own where this host allows it),
two primaries (``serve --role primary``), an NSD secondary per primary, a signed test
root and an Unbound per secondary validating from the root's trust anchor; and the
observers that watch them through the failover (``Watch``).

Site B's token is not a copy of A's: it is a new token in B's home, given the same
Storage Master Key as A's (the SO installs it; in production from the SLIP-39 shares,
``tldsec backup smk-install``), into which ``tldsec backup restore`` unwraps the archive
``tldsec backup keys`` wrote at A (docs/hsm.md). B's key database is A's (the same key
facts; in production one signer database on the pair); B's audit log is its own, under
an audit key of B's token.

The network: a signer's namespace (``ip netns``) holds only a veth pair's inner end,
10.231.K.2/30, with the host's end as its gateway. It reaches the primaries' push
listeners through the veth (they listen on 0.0.0.0, behind pinned mutual TLS) and
PostgreSQL through the clusters' Unix sockets (a socket file is reached by its path,
whatever the network namespace: the libpq multi-host URL names the two socket
directories). Nothing can reach into the namespace but replies; ``ss -ltnu`` run in it
lists what the signer listens on: nothing. Without namespaces (not root, no ``ip
netns``), the signers are plain processes and ``Namespace`` is not used.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.distribute.homes import make_home, tldsec, zone_home
from tests.distribute.nameservers import Daemon, NsdZone, free_port, start_nsd, start_unbound
from tests.integration.signed_parent import SignedRoot
from tests.service.running import KEY_NAME, KEY_SECRET, Serve
from tldsec.distribute.config import TsigKey
from tldsec.distribute.pushcert import PushIdentity, fingerprint, new_certificate
from tldsec.hsm.softhsm import write_softhsm2_conf

ORIGIN = "example."
TSIG = TsigKey(KEY_NAME, "hmac-sha256", __import__("base64").b64decode(KEY_SECRET))
SITES = ("a", "b")


def netns_available() -> str | None:
    """None when signers can run in network namespaces of their own here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns)"
    if shutil.which("ip") is None or shutil.which("ss") is None:
        return "iproute2 (ip, ss) is not installed"
    probe = f"tldsec-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class Namespace:
    """A network namespace with a veth pair to the host: the signer's side is
    10.231.K.2/30 with a default route to the host's end, 10.231.K.1."""

    def __init__(self, site: str) -> None:
        taken = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        for _ in range(50):
            k = random.randrange(256)
            if f" 10.231.{k}." not in taken:
                break
        tag = f"{os.getpid() % 100000}{site}"
        self.name = f"tldsec-drill-{tag}"
        self.host_if, self.inner_if = f"tdh{tag}", f"tdi{tag}"
        self.gateway, self.address = f"10.231.{k}.1", f"10.231.{k}.2"
        steps = [
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.inner_if],
            ["ip", "link", "set", self.inner_if, "netns", self.name],
            ["ip", "addr", "add", f"{self.gateway}/30", "dev", self.host_if],
            ["ip", "link", "set", self.host_if, "up"],
            *(
                ["ip", "netns", "exec", self.name, *argv]
                for argv in (
                    ["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", f"{self.address}/30", "dev", self.inner_if],
                    ["ip", "link", "set", self.inner_if, "up"],
                    ["ip", "route", "add", "default", "via", self.gateway],
                )
            ),
        ]
        try:
            for argv in steps:
                subprocess.run(argv, capture_output=True, text=True, check=True)
        except subprocess.CalledProcessError as exc:
            self.close()
            raise AssertionError(f"{' '.join(exc.cmd)}: {exc.stderr}") from exc

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def listening(self) -> set[str]:
        """``ss -ltnu`` in the namespace: every TCP listener and UDP socket bound there."""
        out = subprocess.run(
            [*self.prefix(), "ss", "-Hltnu"], capture_output=True, text=True, check=True
        ).stdout
        return {" ".join(line.split()[:1] + line.split()[4:5]) for line in out.splitlines()}

    def sees_a_listener(self) -> bool:
        """Whether ``listening`` finds a TCP listener that a process opens in the
        namespace (so that its empty answer for the signer means something)."""
        code = (
            "import socket, sys, time; s = socket.socket(); s.bind(('0.0.0.0', 0)); "
            "s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)"
        )
        with subprocess.Popen(
            [*self.prefix(), sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
        ) as probe:
            try:
                assert probe.stdout is not None
                port = probe.stdout.readline().strip()
                return any(entry.endswith(f":{port}") for entry in self.listening())
            finally:
                probe.kill()

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)


class SignerProcess:
    """``tldsec serve --role signer`` in ``namespace`` (or the host's network)."""

    def __init__(self, site: str, home: Path, log: Path, namespace: Namespace | None) -> None:
        self.site, self.home, self.log = site, home, log
        prefix = namespace.prefix() if namespace is not None else []
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [*prefix, sys.executable, "-X", "faulthandler", "-m", "tldsec.cli.main",
                 "serve", "--home", str(home), "--role", "signer", "--log-format", "text"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the site is lost with its signer (no lease release, no goodbye)."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> int | None:
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack
            time.sleep(2)
            self.process.kill()
            self.process.wait()
            return None


@dataclass(frozen=True)
class Published:
    """A zone a primary acknowledged: installed and served, from ``site``'s signer."""

    site: str
    primary: str
    token: int
    serial: int
    at: float


@dataclass
class Watch:
    """What the observers saw, every ``every`` seconds: each secondary's SOA serial and
    the DS key tags it serves per domain, each validating resolver's answer to a fresh
    name (a new NXDOMAIN name and a delegation's DS, in turn), and each primary's
    acknowledged zones (its fence record and the serial it serves)."""

    soa: dict[str, list[tuple[float, int | None]]] = field(default_factory=dict)
    ds: dict[str, list[tuple[float, dict[str, set[int]]]]] = field(default_factory=dict)
    validated: int = 0
    bogus: list[str] = field(default_factory=list)  # SERVFAIL, or an answer without AD
    unanswered: int = 0  # a resolver that did not answer within its timeout
    published: list[Published] = field(default_factory=list)

    def serials_backwards(self) -> list[str]:
        found = []
        for name, samples in self.soa.items():
            seen = [s for _, s in samples if s is not None]
            found += [f"{name}: {x} then {y}" for x, y in itertools.pairwise(seen) if y < x]
        return found

    def served_at(self, domain: str, tag: int) -> float | None:
        """When every secondary first served ``domain`` with a DS key tag >= ``tag``
        (tags only grow per domain: a later state includes the change)."""
        times = []
        for samples in self.ds.values():
            t = next(
                (at for at, tags in samples if max(tags.get(domain, {0}), default=0) >= tag), None
            )
            if t is None:
                return None
            times.append(t)
        return max(times)


class SigningSites:
    """Both sites' signers, two primaries, their secondaries and validating resolvers, on
    the registry the pair holds (``registry_url``: the multi-host URL by socket
    directories). ``start`` returns once A's signer published to both primaries, every
    secondary serves its zone, every resolver validates it and B's signer is standing
    by; ``watch`` observes in a thread until ``stop_watching``."""

    def __init__(
        self, tmp: Path, registry_url: str, domains: int, primary_registry_url: str
    ) -> None:
        self.tmp, self.url, self.domains = tmp, registry_url, domains
        self.primary_registry_url = primary_registry_url
        self.why_no_netns = netns_available()
        self.namespaces: dict[str, Namespace] = {}
        self.signers: dict[str, SignerProcess] = {}
        self.primaries: dict[str, Serve] = {}
        self.nsds: dict[str, Daemon] = {}
        self.resolvers: dict[str, Daemon] = {}
        self.root: SignedRoot | None = None
        self.watched = Watch()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._killed: set[str] = set()

    # -- setting up -----------------------------------------------------------------

    def start(self) -> None:
        certs = self.tmp / "certs"
        now = datetime.now(UTC)
        ids = {s: new_certificate(f"site-{s}", certs, now) for s in SITES}
        primary_ids = {s: new_certificate(f"primary-{s}", certs, now) for s in SITES}
        if self.why_no_netns is None:
            for s in SITES:
                self.namespaces[s] = Namespace(s)
                assert self.namespaces[s].sees_a_listener(), "ss -ltnu in the namespace is blind"
        homes = self._signer_homes()
        push_ports = {s: free_port() for s in SITES}
        nsd_ports = {s: free_port() for s in SITES}
        for s in SITES:  # primary s feeds secondary s
            # The primary's trace pass (decision 54) writes what its secondary serves to
            # the registry: the pair, by TCP (the primaries run in the host's network).
            config = _primary_config(primary_ids[s], ids, push_ports[s], nsd_ports[s], f"ns-{s}")
            database = f'\n[database]\nregistry_url = "{self.primary_registry_url}"\n'
            home = make_home(self.tmp / f"primary-{s}", extra=config + database)
            self.primaries[s] = Serve.start(
                home, self.tmp / f"primary-{s}.log", "--role", "primary", serial=False
            )
        for s in SITES:
            address = self.namespaces[s].gateway if self.namespaces else "127.0.0.1"
            with open(homes[s] / "tldsec.toml", "a", encoding="utf-8") as f:
                f.write(_signer_config(s, ids[s], primary_ids, push_ports, address))
        self.signers["a"] = self._signer("a", homes["a"])
        first = self.wait(lambda: self._acknowledged("a", "site-a"), "A's first push to both")
        for s in SITES:
            zone = NsdZone(ORIGIN, ("127.0.0.1", self.primaries[s].dns_port), key=TSIG)
            self.nsds[s] = start_nsd(self.tmp / f"nsd-{s}", [zone], nsd_ports[s])
        for nsd in self.nsds.values():
            nsd.wait_serial(ORIGIN, first, timeout=60)
        ds = tldsec("keys", "export-ds", "--home", str(homes["a"])).stdout
        self.root = SignedRoot(self.tmp / "root", ORIGIN, datetime.now(UTC))
        self.root.publish(
            [
                " ".join(line.split("IN DS", 1)[1].split(";")[0].split())
                for line in ds.splitlines()
                if "IN DS" in line
            ]
        )
        root_port = self.root.server.port
        for s, nsd in self.nsds.items():
            self.resolvers[s] = start_unbound(
                self.tmp / f"unbound-{s}",
                self.root.anchor_text,
                {".": root_port, ORIGIN: nsd.port},
                # Nothing cached beyond a second: each question goes to the secondary and
                # is validated again, against the zone it serves now.
                ("cache-max-ttl: 1", "cache-max-negative-ttl: 1"),
            )
        for s in SITES:
            answer = self._validate(s, f"d0.{ORIGIN}", "DS")
            assert answer is not None and answer.flags & dns.flags.AD, (
                f"resolver {s} does not validate the zone: {answer}\n"
                + self.resolvers[s].log_text()[-3000:]
            )
        self.signers["b"] = self._signer("b", homes["b"])
        self.wait(
            lambda: "does not hold the publication lease" in self.signers["b"].log_text(),
            "B standing by",
        )

    def _signer_homes(self) -> dict[str, Path]:
        """Home A (a SoftHSM2 token with the first keys, the pair's registry), an SMK in
        its token, the archive; home B: A's configuration and key database, a new token
        given the same SMK, the keys restored from the archive, an audit key of its own."""
        common = f"""
[database]
registry_url = "{self.url}"

[verify]
external = []
second_sample = 50

[cycle]
check_seconds = 0.3
workers = 1

[serve]
audit_watch_seconds = 0.5
"""
        a = make_home(self.tmp / "site-a", keystore="pkcs11", extra=common)
        secret = os.urandom(32).hex()
        check = _install_smk(a, secret)
        archive = self.tmp / "keys.json"
        tldsec("backup", "keys", "--home", str(a), "--smk", check, "-o", str(archive))
        b = Path(
            shutil.copytree(
                a,
                self.tmp / "site-b",
                ignore=shutil.ignore_patterns(
                    "tokens", "run", "softhsm2.conf*", "audit.db", "audit-anchors", "zones"
                ),
            )
        )
        conf = write_softhsm2_conf(b)
        pin, so_pin = ((b / n).read_text().strip() for n in ("pin", "so-pin"))
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", "tldsec", "--pin", pin,
             "--so-pin", so_pin],
            env={**os.environ, "SOFTHSM2_CONF": str(conf)}, capture_output=True, check=True,
        )  # fmt: skip
        assert _install_smk(b, secret) == check
        tldsec("audit", "init", "--home", str(b))
        restored = tldsec("backup", "restore", str(archive), "--home", str(b)).stdout
        assert "3 keys restored" in restored, restored
        return {"a": a, "b": b}

    def _signer(self, site: str, home: Path) -> SignerProcess:
        return SignerProcess(site, home, self.tmp / f"signer-{site}.log", self.namespaces.get(site))

    def _acknowledged(self, site: str, signer: str) -> int | None:
        """The serial both primaries serve from ``signer``, if they serve the same one."""
        served = set()
        for s in SITES:
            fence = self._fence(s)
            serial = self.primaries[s].health()[1].get("serial")
            if fence is None or fence["signer"] != signer or fence["serial"] != serial:
                return None
            served.add(serial)
        return served.pop() if len(served) == 1 else None

    def _fence(self, site: str) -> dict[str, object] | None:
        path = zone_home(self.primaries[site].home).dist / "push-fence.json"
        with contextlib.suppress(FileNotFoundError, ValueError):
            return dict(json.loads(path.read_text()))
        return None

    def wait(self, ready: Callable[[], object], what: str, timeout: float = 120) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, signer in self.signers.items():
                if signer.process.poll() is not None and name not in self._killed:
                    raise AssertionError(f"signer {name} exited: {signer.log_text()[-4000:]}")
            with contextlib.suppress(OSError):
                if found := ready():
                    return found
            time.sleep(0.2)
        logs = "\n".join(f"--- {n}\n{s.log_text()[-3000:]}" for n, s in self.signers.items())
        raise AssertionError(f"timed out waiting for {what}:\n{logs}")

    # -- the drill ------------------------------------------------------------------

    def kill_a(self) -> None:
        self._killed.add("a")
        self.signers["a"].kill()

    def listening(self, site: str) -> set[str] | None:
        """What the signer's namespace listens on, seen three times 0.5 s apart (a
        query's client UDP socket comes and goes; a listener stays); None without
        namespaces."""
        namespace = self.namespaces.get(site)
        if namespace is None:
            return None
        seen = namespace.listening()
        for _ in range(2):
            time.sleep(0.5)
            seen &= namespace.listening()
        return seen

    def watch(self, every: float = 0.5) -> None:
        for target in (self._watch_dns, self._watch_primaries):
            thread = threading.Thread(target=target, args=(every,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_watching(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _watch_dns(self, every: float) -> None:
        n = 0
        w = self.watched
        while not self._stop.is_set():
            n += 1
            for s, nsd in self.nsds.items():
                w.soa.setdefault(s, []).append((time.monotonic(), nsd.serial(ORIGIN)))
                w.ds.setdefault(s, []).append((time.monotonic(), self.served_ds(s)))
            for s in self.resolvers:
                name, rdtype = (
                    (f"nx{n}-{s}.{ORIGIN}", "A")
                    if n % 2
                    else (f"d{n % self.domains}.{ORIGIN}", "DS")
                )
                answer = self._validate(s, name, rdtype)
                if answer is None:
                    w.unanswered += 1
                elif answer.rcode() == dns.rcode.SERVFAIL or not answer.flags & dns.flags.AD:
                    w.bogus.append(
                        f"resolver {s} {name} {rdtype}: {dns.rcode.to_text(answer.rcode())}"
                        f" flags {dns.flags.to_text(answer.flags)}"
                    )
                else:
                    w.validated += 1
            self._stop.wait(every)

    def _watch_primaries(self, every: float) -> None:
        seen: set[tuple[str, int]] = set()
        while not self._stop.is_set():
            for s, primary in self.primaries.items():
                fence = self._fence(s)
                with contextlib.suppress(OSError):
                    serial = primary.health()[1].get("serial")
                    if fence is not None and fence["serial"] == serial and (s, serial) not in seen:
                        seen.add((s, int(serial)))  # type: ignore[arg-type]
                        signer = str(fence["signer"]).removeprefix("site-").upper()
                        self.watched.published.append(
                            Published(signer, s, int(fence["token"]), int(serial), time.monotonic())  # type: ignore[arg-type]
                        )
            self._stop.wait(every / 2.5)

    def served_ds(self, site: str) -> dict[str, set[int]]:
        """The DS key tags secondary ``site`` serves, per domain d0 ... (asked directly)."""
        tags: dict[str, set[int]] = {}
        for i in range(self.domains):
            domain = f"d{i}.{ORIGIN}"
            with contextlib.suppress(OSError, dns.exception.DNSException):
                answer = self.nsds[site].query(domain, "DS")
                tags[domain.rstrip(".")] = {
                    rd.key_tag
                    for rrset in answer.answer
                    if rrset.rdtype == dns.rdatatype.DS
                    for rd in rrset
                }
        return tags

    def _validate(self, site: str, name: str, rdtype: str) -> dns.message.Message | None:
        q = dns.message.make_query(name, rdtype, want_dnssec=True)
        q.flags |= dns.flags.RD | dns.flags.AD
        try:
            return dns.query.udp(q, "127.0.0.1", port=self.resolvers[site].port, timeout=5)
        except (OSError, dns.exception.Timeout):
            return None

    # -- tearing down ---------------------------------------------------------------

    def close(self) -> dict[str, int | None]:
        """Everything stopped; the surviving signers' exit codes."""
        self.stop_watching()
        codes = {}
        for s, signer in self.signers.items():
            code = signer.stop()
            if s not in self._killed:
                codes[s] = code
        for daemon in [*self.resolvers.values(), *self.nsds.values()]:
            daemon.stop()
        if self.root is not None:
            self.root.stop()
        for primary in self.primaries.values():
            with contextlib.suppress(AssertionError):
                primary.stop()
        for namespace in self.namespaces.values():
            namespace.close()
        return codes


@contextlib.contextmanager
def signing_sites(
    tmp: Path, registry_url: str, domains: int, primary_registry_url: str
) -> Iterator[SigningSites]:
    sites = SigningSites(tmp, registry_url, domains, primary_registry_url)
    try:
        yield sites
    finally:
        sites.close()


_SMK = """
import sys
from pathlib import Path
from tldsec.hsm.backup import smk_check_value
from tldsec.hsm.smk import officer_session
from tldsec.settings import load_settings
home, secret = Path(sys.argv[1]), bytes.fromhex(sys.argv[2])
check = smk_check_value(secret)
so_pin = (home / "so-pin").read_text().strip()
with officer_session(load_settings(home).keystore_spec(), so_pin) as so:
    so.install(secret, check)
print(check)
"""


def _install_smk(home: Path, secret: str) -> str:
    """The SO installs the SMK ``secret`` into the home's token (a process of its own:
    each token has its own SoftHSM2 configuration); returns its check value."""
    out = subprocess.run(
        [sys.executable, "-c", _SMK, str(home), secret], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _primary_config(
    me: PushIdentity, signers: dict[str, PushIdentity], push_port: int, nsd_port: int, name: str
) -> str:
    listen = "0.0.0.0" if os.geteuid() == 0 and netns_available() is None else "127.0.0.1"
    pinned = "".join(
        f'\n[[push.signers]]\nname = "site-{s}"\ncert = "{i.cert}"\n'
        f'sha256 = "{fingerprint(i.cert)}"\n'
        for s, i in signers.items()
    )
    return f"""
[distribute]
poll_seconds = 0.2
notify_retry_seconds = 0.5

[[distribute.secondaries]]
name = "{name}"
allow = ["127.0.0.1"]
notify = ["127.0.0.1:{nsd_port}"]
tsig_key = "{KEY_NAME}"

[distribute.tsig_keys."{KEY_NAME}"]
secret = "{KEY_SECRET}"

[push]
cert = "{me.cert}"
key = "{me.key}"
listen = "{listen}:{push_port}"
timeout_seconds = 10
{pinned}"""


def _signer_config(
    site: str,
    me: PushIdentity,
    primaries: dict[str, PushIdentity],
    ports: dict[str, int],
    address: str,
) -> str:
    peers = "".join(
        f'\n[[push.primaries]]\nname = "primary-{s}"\naddress = "{address}:{ports[s]}"\n'
        f'cert = "{i.cert}"\nsha256 = "{fingerprint(i.cert)}"\n'
        for s, i in primaries.items()
    )
    return f"""
[push]
cert = "{me.cert}"
key = "{me.key}"
timeout_seconds = 10
retry_seconds = 0.2
{peers}
[lease]
name = "site-{site}"
ttl_seconds = 6
renew_seconds = 1
margin_seconds = 2
"""

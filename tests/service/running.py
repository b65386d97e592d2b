"""A real ``tldsec serve`` process for the service tests: started on free ports, asked
over HTTP (/health, /metrics) and DNS (AXFR with TSIG), stopped with SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dns.query
import dns.rdatatype
import dns.tsigkeyring
from prometheus_client.parser import text_string_to_metric_families

from tests.distribute.nameservers import free_port

KEY_NAME = "xfr-key."
KEY_SECRET = "c2VydmUtb3V0YWdlLXRlc3Qta2V5LTMyYnl0ZXMhISE="


def secondary_config(check_seconds: float = 0.3) -> str:
    """A secondary at 127.0.0.1 with a TSIG key, quick cycles and audit watch."""
    return f"""
[distribute]
poll_seconds = 0.2

[[distribute.secondaries]]
name = "test"
allow = ["127.0.0.1"]
notify = []
tsig_key = "{KEY_NAME}"

[distribute.tsig_keys."{KEY_NAME}"]
secret = "{KEY_SECRET}"

[cycle]
check_seconds = {check_seconds}
workers = 1

[serve]
audit_watch_seconds = 0.5
"""


@dataclass
class Serve:
    home: Path
    process: subprocess.Popen[bytes]
    log: Path
    health_port: int
    dns_port: int

    @classmethod
    def start(cls, home: Path, log: Path, *extra: str, serial: bool = True) -> Serve:
        """Started, and (``serial``) serving a zone; else only answering /health."""
        health_port, dns_port = free_port(), free_port()
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "tldsec.cli.main", "serve", "--home", str(home),
                    "--log-format", "text", "--dns-listen", f"127.0.0.1:{dns_port}",
                    "--health-listen", f"127.0.0.1:{health_port}", *extra,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        serve = cls(home, process, log, health_port, dns_port)
        if serial:
            serve.wait(lambda: serve.health()[1].get("serial") is not None, "serve")
        else:
            serve.wait(lambda: bool(serve.health()[1]), "serve's /health")
        return serve

    def health(self) -> tuple[int, dict[str, object]]:
        url = f"http://127.0.0.1:{self.health_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return exc.code, dict(json.loads(exc.read()))

    def faults(self) -> list[str]:
        found = self.health()[1]["faults"]
        assert isinstance(found, list)
        return [str(f) for f in found]

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """GET /metrics, parsed by prometheus_client's text parser: each sample name
        with its (labels, value) pairs."""
        url = f"http://127.0.0.1:{self.health_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain")
            text = r.read().decode()
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return samples

    def axfr_serial(self) -> int:
        """The SOA serial of an AXFR from the hidden primary, signed with the TSIG key."""
        keyring = dns.tsigkeyring.from_text({KEY_NAME: KEY_SECRET})
        serials = []
        for message in dns.query.xfr(
            "127.0.0.1", "example.", port=self.dns_port, keyring=keyring, keyname=KEY_NAME,
            timeout=10, lifetime=30,
        ):  # fmt: skip
            for rrset in message.answer:
                if rrset.rdtype == dns.rdatatype.SOA:
                    serials.append(rrset[0].serial)
        assert len(serials) == 2 and serials[0] == serials[1]  # the opening and closing SOA
        return int(serials[0])

    def wait(self, ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"serve exited ({self.process.returncode}) waiting for {what}: "
                    f"{self.log.read_text()}"
                )
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.returncode == 0, self.log.read_text()[-4000:]

"""Issue 22, item 5: ``make deb`` builds a Debian package that installs on this machine
and runs, as root and as its service user: ``tldsec --version``, then a home made and
read by the user ``tldsec``. The package is purged again afterwards."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TLDSEC = "/opt/tldsec/bin/tldsec"


def run(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert out.returncode == 0, (argv, out.stdout[-2000:], out.stderr[-2000:])
    return out


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("installing a Debian package needs root (make test runs as root)")
    if Path(TLDSEC).exists():
        pytest.skip(f"{TLDSEC} exists: a tldsec package is installed here already")
    package = ROOT / run("scripts/build-deb").stdout.strip().splitlines()[-1]
    try:
        run("dpkg", "-i", str(package))
        yield package
    finally:
        subprocess.run(["dpkg", "--purge", "tldsec"], capture_output=True, timeout=300)


def test_the_package_installs_and_runs_as_its_service_user(installed: Path) -> None:
    fields = run("dpkg-deb", "-f", str(installed), "Package", "Depends").stdout
    assert "Package: tldsec" in fields and "python3 (>= 3.11)" in fields
    version = run(TLDSEC, "--version").stdout.strip()
    assert version.startswith("tldsec ")
    assert run("runuser", "-u", "tldsec", "--", TLDSEC, "--version").stdout.strip() == version
    assert Path("/lib/systemd/system/tldsec.service").exists()
    assert os.stat("/etc/tldsec/credentials").st_mode & 0o777 == 0o700
    home = "/var/lib/tldsec/test-home"
    try:
        as_user = ("runuser", "-u", "tldsec", "--", TLDSEC)
        run(*as_user, "init", "--home", home, "--origin", "example", "--keystore", "file")
        assert '"zone": "example."' in run(*as_user, "--home", home, "status", "--json").stdout
    finally:
        subprocess.run(["rm", "-rf", home], check=True)


def test_the_container_recipe_installs_the_tested_package_and_runs_unprivileged() -> None:
    """No container engine runs here: the recipe is held to what the package test proves
    (the same .deb), an unprivileged user and the home as a volume."""
    lines = [
        line.strip()
        for line in (ROOT / "packaging" / "Containerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM debian:bookworm-slim"
    assert "COPY build/deb/tldsec_*.deb /tmp/" in lines
    assert "USER tldsec" in lines and "VOLUME /var/lib/tldsec" in lines
    assert lines[-2] == 'ENTRYPOINT ["/opt/tldsec/bin/tldsec"]'
    assert lines.index("USER tldsec") > max(i for i, x in enumerate(lines) if x.startswith("RUN"))

"""Issue 22, item 2: every failure an operator can cause is one line naming what failed,
where and the next step, with the documented exit code (docs/operations.md) and never a
traceback. Each case runs the real ``tldsec`` command in a process of its own."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.distribute.homes import tldsec

PASSWORD = "s3cret-db-pw"
ZONE = """\
$ORIGIN example.
$TTL 3600
@ SOA a.nic hostmaster.nic 1 1800 900 1209600 3600
@ NS a.nic
a.nic A 192.0.2.1
d1 NS ns.hoster.net.
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return tldsec(*args, check=False)


def one_line_error(out: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The single ``tldsec: error:`` line of a failed run, checked: no traceback."""
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tldsec: error: "), out.stderr
    return lines[0]


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home of the embedded defaults (file key store, SQLite)."""
    home = tmp_path_factory.mktemp("operable") / "home"
    tldsec("init", "--home", str(home), "--origin", "example", "--keystore", "file")
    return home


@pytest.fixture(scope="module")
def home_db_down(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same home with its databases on a PostgreSQL server that is not running."""
    down = tmp_path_factory.mktemp("dbdown") / "home"
    subprocess.run(["cp", "-a", str(home), str(down)], check=True)
    port = closed_port()
    with open(down / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write("\n[database]\n")
        for name in ("registry", "signer", "audit"):
            f.write(
                f'{name}_url = "postgresql+psycopg://tldsec:{PASSWORD}@127.0.0.1:{port}'
                f'/tldsec_{name}"\n'
            )
    return down


@pytest.mark.parametrize(
    "argv",
    [["status"], ["cycle"], ["keys", "list"], ["audit", "verify"], ["db", "upgrade"]],
    ids=" ".join,
)
def test_postgresql_down_is_one_line_naming_the_database_and_key(
    home_db_down: Path, argv: list[str]
) -> None:
    line = one_line_error(run(*argv, "--home", str(home_db_down)))
    assert "cannot reach the" in line and "@127.0.0.1:" in line
    assert PASSWORD not in line and "tldsec:***@" in line
    assert f"_url in {home_db_down / 'tldsec.toml'}" in line
    assert "start the database server or correct the URL" in line


def test_cycle_json_prints_an_error_object_on_an_early_failure(home_db_down: Path) -> None:
    out = run("cycle", "--home", str(home_db_down), "--json")
    line = one_line_error(out)
    error = json.loads(out.stdout)
    assert error["ok"] is False and error["exit_code"] == 1
    assert error["error"] == line.removeprefix("tldsec: error: ")


def test_an_unwritable_output_is_refused_before_any_work(home: Path, tmp_path: Path) -> None:
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    out = run("sign", "--home", str(home), str(zone), "-o", "/nonexistent/out.zone")
    line = one_line_error(out)
    assert "-o /nonexistent/out.zone: the directory /nonexistent does not exist" in line
    assert out.stdout == ""  # nothing signed, no key step taken
    shown = run("audit", "show", "--home", str(home), "--event", "signer.", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout) == []
    a_directory = run("sign", "--home", str(home), str(zone), "-o", str(tmp_path))
    assert "is a directory" in one_line_error(a_directory)


def test_a_missing_input_file_is_one_line(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.zone"
    line = one_line_error(run("sign", "--home", str(home), str(missing), "-o", "x.zone"))
    assert str(missing) in line
    pw = tmp_path / "no-password"
    line = one_line_error(
        run("registrar", "add", "alpha", "--home", str(home), "--password-file", str(pw))
    )
    assert str(pw) in line
    line = one_line_error(run("status", "--home", str(tmp_path / "no-home")))
    assert "tldsec init" in line


@pytest.mark.parametrize("argv", [["status"], ["keys", "list"]], ids=" ".join)
def test_a_closed_pipe_ends_quietly(home: Path, argv: list[str]) -> None:
    """``tldsec status | head -1``: the reader is gone before tldsec writes."""
    with subprocess.Popen(
        [sys.executable, "-m", "tldsec.cli.main", *argv, "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()
        err = child.stderr.read()
        code = child.wait(timeout=120)
    assert code == 141, err  # 128 + SIGPIPE, as a shell reports it
    assert err == ""


def test_global_options_before_or_after_the_command(home: Path, tmp_path: Path) -> None:
    before = run("--home", str(home), "keys", "list", "--json")
    after = run("keys", "list", "--home", str(home), "--json")
    assert before.returncode == after.returncode == 0, before.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert run("--json", f"--home={home}", "-v", "keys", "list").returncode == 0
    assert run("-vv", "status", "--home", str(home), "--json").stderr  # -v reached logging
    new = tmp_path / "new-home"
    made = run("--home", str(new), "init", "--origin", "example", "--keystore", "file")
    assert made.returncode == 0, made.stderr
    assert (new / "tldsec.toml").exists()
    usage = run("status", "--home", str(home), "--no-such-option")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_json_lists_parse(home: Path) -> None:
    for argv in (
        ["registrar", "list"],
        ["audit", "show", "--limit", "5"],
        ["keys", "list"],
        ["keys", "plan"],
        ["status"],
    ):
        out = run(*argv, "--home", str(home), "--json")
        assert out.returncode in (0, 1), (argv, out.stderr)  # status: degraded is 1
        json.loads(out.stdout)


def test_cycle_check_says_needed_with_4_and_status_exits_by_health(home: Path) -> None:
    check = run("cycle", "--check", "--home", str(home), "--json")
    assert check.returncode == 4 and json.loads(check.stdout)["pending"], check.stderr
    assert run("cycle", "--home", str(home)).returncode == 0
    check = run("cycle", "--check", "--home", str(home))
    assert check.returncode == 0 and check.stdout.strip() == "nothing to do"
    status = run("status", "--home", str(home), "--json")
    assert status.returncode == 0, status.stdout
    assert json.loads(status.stdout)["health"] == {"state": "ok", "exit": "OK", "problems": []}


@pytest.fixture(scope="module")
def hsm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose keys are in a SoftHSM2 token."""
    home = tmp_path_factory.mktemp("hsm") / "home"
    tldsec("init", "--home", str(home), "--origin", "example")
    return home


def test_the_hsm_module_missing_or_the_pin_wrong_is_one_line(
    hsm_home: Path, tmp_path: Path
) -> None:
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    config = hsm_home / "tldsec.toml"
    original = config.read_text("utf-8")
    try:
        config.write_text(
            "\n".join(
                'module = "/nonexistent/libvendor.so"' if line.startswith("module =") else line
                for line in original.splitlines()
            )
        )
        line = one_line_error(run("sign", "--home", str(hsm_home), str(zone), "-o", "o.zone"))
        assert "/nonexistent/libvendor.so does not exist" in line
        assert f"check [keystore] module and token_label in {config}" in line
    finally:
        config.write_text(original)
    pin = hsm_home / "pin"
    right = pin.read_text()
    try:
        pin.write_text("0000-wrong")
        line = one_line_error(run("sign", "--home", str(hsm_home), str(zone), "-o", "o.zone"))
        assert "wrong PIN" in line and f"check [keystore] pin_source in {config}" in line
    finally:
        pin.write_text(right)
    assert (
        run("sign", "--home", str(hsm_home), str(zone), "-o", str(tmp_path / "o")).returncode == 0
    )

"""``tldsec publish`` on a home made by ``tldsec init``: the DS on the site is the DS that
``tldsec keys export-ds`` prints, and the publication is audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.publish.sitecheck import check_site
from tldsec.cli.main import main

MODEL = Path(__file__).parents[1] / "fixtures" / "dps-model.txt"


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    capsys.readouterr()
    return path


def add_dps(home: Path) -> None:
    (home / "dps.txt").write_text(MODEL.read_text("utf-8"), "utf-8")
    with (home / "tldsec.toml").open("a", encoding="utf-8") as f:
        f.write(
            '\n[publish]\ndigest_types = [2, 4]\n\n[[publish.dps]]\nversion = "1.0"\n'
            'file = "dps.txt"\neffective = "2020-01-01"\nsummary = "first"\n'
        )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_site_ds_is_what_export_ds_prints(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_dps(home)
    out = tmp_path / "site"
    code, printed, err = run(capsys, "publish", "--home", str(home), "-o", str(out), "--json")
    assert code == 0, err
    done = json.loads(printed)
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    check_site(files)
    code, exported, _ = run(
        capsys, "keys", "export-ds", "--home", str(home), "--digest-type", "2",
        "--digest-type", "4",
    )  # fmt: skip
    assert code == 0
    lines = [line.split("  ;")[0] for line in exported.splitlines()]
    assert len(lines) == 2  # one KSK, SHA-256 and SHA-384
    assert files["ds.zone"].decode().splitlines() == lines
    assert done["ds"] == sorted({int(line.split()[4]) for line in lines})
    code, shown, _ = run(capsys, "audit", "show", "--home", str(home), "--json",
                         "--event", "repository.published")  # fmt: skip
    assert code == 0
    [entry] = json.loads(shown)
    assert entry["details"]["dps_version"] == "1.0" and entry["details"]["ds"] == done["ds"]


def test_no_dps_configured_is_refused_by_name(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "publish", "--home", str(home), "-o", str(tmp_path / "s"))
    assert code == 1 and "no [[publish.dps]]" in err
    assert not (tmp_path / "s").exists()


def test_a_missing_dps_file_is_named(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_dps(home)
    (home / "dps.txt").unlink()
    code, _, err = run(capsys, "publish", "--home", str(home), "-o", str(tmp_path / "s"))
    assert code == 1 and "version 1.0: cannot read" in err and "dps.txt" in err

"""``tldsec cycle --zone`` in a home of two zones (decision 57, "Home layout per zone" and
"CLI --zone conventions"): each zone's cycle writes under its own ``zones/NAME/`` and
its own store, never the other's; without ``--zone`` a cycle is refused (exit 2) and
``cycle --check`` reports every zone. SoftHSM2 and SQLite, as ``tldsec init`` makes them;
the second zone is added by ``tldsec zone add``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_zone_add import as_zones
from tldsec.cli.main import main
from tldsec.errors import ExitCode
from tldsec.settings import load_settings
from tldsec.zonehome import ZoneHome


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tree(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Every file below ``directory``: (mtime_ns, bytes), by path relative to it."""
    return {
        str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``tldsec init`` for example., then shop. added by ``tldsec zone add``."""
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example."]) == 0
    as_zones(path, "shop")
    assert main(["zone", "add", "shop", "--home", str(path)]) == 0
    capsys.readouterr()
    return path


def test_each_zones_cycle_writes_only_in_its_directory_and_store(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zones = home / "zones"
    example, shop = ZoneHome(zones, "example."), ZoneHome(zones, "shop.")
    settings = load_settings(home)
    assert settings.for_zone("shop").zone_dir == shop.root

    code, _, err = run(capsys, "cycle", "--home", str(home))
    assert code == ExitCode.USAGE
    assert "this home serves example., shop.: name one with --zone" in err
    assert not example.cycle_state.exists() and not shop.cycle_state.exists()

    code, out, err = run(capsys, "cycle", "--check", "--json", "--home", str(home))
    assert code == ExitCode.NEEDED, err
    checked = json.loads(out)["zones"]
    assert list(checked) == ["example.", "shop."] and all(c["pending"] for c in checked.values())

    before = tree(zones)
    code, out, err = run(capsys, "cycle", "--zone", "shop", "--json", "--home", str(home))
    assert code == 0, err
    shop_serial = json.loads(out)["serial"]
    assert json.loads(out)["outcome"] == "published" and shop_serial is not None
    after = tree(zones)
    written = {k for k in after if before.get(k) != after[k]}
    assert written and all(k.startswith("shop/") for k in written), written
    assert int((shop.dist / "current").read_text()) == shop_serial
    assert shop.cycle_state.is_file() and shop.last_report.is_file()
    assert (shop.work / "unsigned.zone").is_file() and (
        shop.reports / f"{shop_serial}.json"
    ).exists()
    assert "shop.\t" in (shop.dist / f"{shop_serial}.zone").read_text()
    assert not (zones / "dist").exists() and not (zones / "cycle.json").exists()
    assert not example.dist.exists() and not example.cycle_state.exists()

    shop_files = tree(shop.root)
    code, out, err = run(capsys, "cycle", "--zone", "example.", "--json", "--home", str(home))
    assert code == 0, err
    example_serial = json.loads(out)["serial"]
    assert int((example.dist / "current").read_text()) == example_serial
    assert "example.\t" in (example.dist / f"{example_serial}.zone").read_text()
    assert tree(shop.root) == shop_files  # example.'s cycle left shop.'s alone
    assert sorted(p.name for p in zones.iterdir()) == ["example", "shop"]

    code, out, err = run(capsys, "cycle", "--check", "--home", str(home))
    assert code == 0, err
    assert out.splitlines() == ["example. nothing to do", "shop. nothing to do"]
    code, out, _ = run(capsys, "cycle", "--check", "--zone", "shop", "--json", "--home", str(home))
    assert code == 0 and json.loads(out) == {"zones": {"shop.": {"pending": None}}}
    code, _, err = run(capsys, "cycle", "--zone", "market", "--home", str(home))
    assert code == 1 and "market. is not a zone of this home" in err

    # tldsec status reports every zone, each from its own directory and store
    code, out, err = run(capsys, "status", "--json", "--home", str(home))
    reported = json.loads(out)
    assert list(reported["zones"]) == ["example.", "shop."], err
    for origin, serial, z in (("example.", example_serial, example), ("shop.", shop_serial, shop)):
        zone = reported["zones"][origin]
        assert (zone["zone"], zone["serial"], zone["pending"]) == (origin, serial, None)
        assert zone["zone_file"] == str(z.dist / f"{serial}.zone")
        assert zone["last_verification"]["file"] == str(z.last_report)
    exits = {reported["zones"][o]["health"]["exit"] for o in reported["zones"]}
    assert code == ExitCode[reported["exit"]] and reported["exit"] in exits
    code, out, _ = run(capsys, "status", "--zone", "shop", "--json", "--home", str(home))
    assert list(json.loads(out)["zones"]) == ["shop."]
    code, out, _ = run(capsys, "status", "--home", str(home))
    # decision 75: the installation's parts once, before the zones' sections
    assert out.startswith("== installation ==\n") and "\n== shop. ==\n" in out
    assert "\n\n== example. ==\nzone example.  serial" in out


def test_zone_build_sign_verify_and_quarantine_act_on_the_zone_named(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The commands that act on one zone's files take ``--zone`` as ``cycle`` does
    (exit 2 without it in a home of two); ``sign``/``verify`` also take the zone their
    ``--origin`` names; ``zone quarantine list`` reports every zone."""
    h = ("--home", str(home))
    unsigned, signed = tmp_path / "shop.zone", tmp_path / "shop.signed"
    code, _, err = run(capsys, "zone", "build", "-o", str(unsigned), *h)
    assert code == ExitCode.USAGE and "name one with --zone" in err
    code, out, err = run(capsys, "zone", "build", "--zone", "shop", "-o", str(unsigned), *h)
    assert code == 0 and out.startswith(f"{unsigned}: shop. serial"), err

    code, _, err = run(capsys, "sign", str(unsigned), "-o", str(signed), *h)
    assert code == ExitCode.USAGE and "name one with --zone" in err and not signed.exists()
    code, out, err = run(capsys, "sign", str(unsigned), "-o", str(signed), "--zone", "shop", *h)
    assert code == 0 and "signed shop." in out, err
    code, out, _ = run(capsys, "keys", "list", "--zone", "shop", "--json", *h)
    shop_tags = {k["key_tag"] for k in json.loads(out)["zones"]["shop."]}
    dnskeys = [line.split() for line in signed.read_text().splitlines() if "\tDNSKEY\t" in line]
    assert dnskeys and all(f[0] == "shop." for f in dnskeys)
    code, out, _ = run(capsys, "keys", "list", "--zone", "example", "--json", *h)
    example_tags = {k["key_tag"] for k in json.loads(out)["zones"]["example."]}
    assert shop_tags and not shop_tags & example_tags  # signed with shop.'s own keys

    assert run(capsys, "cycle", "--zone", "shop", *h)[0] == 0
    shop = ZoneHome(home / "zones", "shop.")
    serial = (shop.dist / "current").read_text().strip()
    published = str(shop.dist / f"{serial}.zone")
    anchor = ("--trust-anchor", str(shop.work / "trust-anchor.ds"), "--no-external")
    code, _, err = run(capsys, "verify", published, *anchor, *h)
    assert code == ExitCode.USAGE and "name one with --zone" in err
    for named in (("--zone", "shop"), ("--origin", "shop.")):
        code, out, err = run(capsys, "verify", published, *anchor, *named, *h)
        assert code == 0, out + err

    code, out, _ = run(capsys, "zone", "quarantine", "list", *h)
    assert code == 0
    assert out.splitlines() == [
        "== example. ==", "nothing is quarantined", "== shop. ==", "nothing is quarantined",
    ]  # fmt: skip
    code, out, _ = run(capsys, "zone", "quarantine", "list", "--zone", "shop", "--json", *h)
    assert json.loads(out) == {"zones": {"shop.": []}}
    code, _, err = run(capsys, "zone", "quarantine", "release", "dom1.shop", *h)
    assert code == ExitCode.USAGE and "name one with --zone" in err

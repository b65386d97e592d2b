"""A home of two zones as an operator makes one: ``tldsec init`` for example. (keys on
disk), ``[zone]`` renamed ``[zones.example]`` beside ``[zones.shop]``, each zone's store
under ``zones/NAME/dist``, shop. added by ``tldsec zone add``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_zone_add import as_zones
from tldsec.cli.main import main


def two_zone_home(path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    as_zones(path, "shop")
    toml = path / "tldsec.toml"
    text = toml.read_text()
    if "[distribute]" in text:
        text = text.replace("[distribute]\n", '[distribute]\nstore_dir = "zones/{zone}/dist"\n', 1)
    else:
        text += '\n[distribute]\nstore_dir = "zones/{zone}/dist"\n'
    toml.write_text(text)
    assert main(["zone", "add", "shop", "--home", str(path)]) == 0
    capsys.readouterr()
    return path


def cycle(home: Path, origin: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """``tldsec cycle --zone ORIGIN``: its JSON result, which must be a publication."""
    code = main(["cycle", "--home", str(home), "--zone", origin, "--json"])
    out, err = capsys.readouterr()
    result: dict[str, object] = json.loads(out)
    assert code == 0 and result["outcome"] == "published", (result, err)
    return result

"""docs/config.md names every table and key the strict reader accepts."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from tldsec.settings.tables import ConfigFile, SecondaryTable, TsigKeyTable

DOC = Path(__file__).parents[2] / "docs" / "config.md"


def test_every_table_and_key_is_documented() -> None:
    text = DOC.read_text("utf-8")
    hints = typing.get_type_hints(ConfigFile)
    missing = []
    for table in dataclasses.fields(ConfigFile):
        if f"## `[{table.name}]`" not in text:
            missing.append(f"[{table.name}]")
        for key in dataclasses.fields(hints[table.name]):
            if f"| `{key.name}` |" not in text:
                missing.append(f"[{table.name}] {key.name}")
    for sub in (SecondaryTable, TsigKeyTable):
        missing.extend(
            f"{sub.__name__} {key.name}"
            for key in dataclasses.fields(sub)
            if f"`{key.name}`" not in text
        )
    assert not missing, f"add to docs/config.md: {', '.join(missing)}"

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
        hint = hints[table.name]
        heading = "zones.NAME" if table.name == "zones" else table.name
        if f"## `[{heading}]`" not in text:
            missing.append(f"[{heading}]")
        if typing.get_origin(hint) is dict:  # [zones.NAME] tables, [policies] names
            hint = typing.get_args(hint)[1]
        schema = next(
            (h for h in typing.get_args(hint) or (hint,) if dataclasses.is_dataclass(h)), None
        )
        if schema is None:
            continue
        for key in dataclasses.fields(schema):
            if f"| `{key.name}` |" not in text:
                missing.append(f"[{table.name}] {key.name}")
    for sub in (SecondaryTable, TsigKeyTable):
        missing.extend(
            f"{sub.__name__} {key.name}"
            for key in dataclasses.fields(sub)
            if f"`{key.name}`" not in text
        )
    assert not missing, f"add to docs/config.md: {', '.join(missing)}"

"""Output files are checked writable before a command starts its work: a signing run of
a million delegations must not end on a directory that does not exist (issue 22)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tldsec.errors import FileUnusable

OUTPUTS = "output_paths"  # the namespace attribute listing the outputs to check


class OutputPath(argparse.Action):
    """An option naming a file the command will write (``type=Path``), checked before
    the command runs (``check_outputs``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        path = Path(str(values))
        setattr(namespace, self.dest, path)
        setattr(namespace, OUTPUTS, [*getattr(namespace, OUTPUTS, []), (option_string, path)])


def check_outputs(args: argparse.Namespace) -> None:
    """Raise ``FileUnusable`` for the first output option whose file cannot be written."""
    for option, path in getattr(args, OUTPUTS, []):
        check_writable(path, option or "output")


def check_writable(path: Path, option: str) -> None:
    """``path`` can be created or replaced: its directory exists and takes a new file
    (tried, not guessed from the mode bits: root, read-only mounts, ACLs), and the path
    is not a directory."""
    parent = path.parent
    where = f"{option} {path}"
    if path.is_dir():
        raise FileUnusable(f"{where} is a directory: name a file to write")
    if not parent.is_dir():
        raise FileUnusable(
            f"{where}: the directory {parent} does not exist: create it or name another "
            "file; nothing was done"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise FileUnusable(
            f"{where}: cannot write in {parent} ({exc.strerror}): fix its permissions or "
            "name another file; nothing was done"
        ) from exc
    os.close(fd)
    os.unlink(probe)

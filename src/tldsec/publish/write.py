"""Putting a built site in place atomically.

The site is written into a new directory beside the target (``DIR.versions/STAMP``);
``DIR`` is a symbolic link that is then replaced in one ``rename`` (``os.replace``), so
a web server serving ``DIR`` sees the old site or the new one, never a mixture. The
previous version is kept (for a look back), older ones are removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from tldsec.errors import ConfigError

KEEP = 2  # versions kept: the one served and the one before it


def write_site(files: Mapping[str, bytes], out: Path) -> Path:
    """Write ``files`` and point ``out`` at them; returns the version directory."""
    out = Path(os.path.abspath(out))
    if out.exists() and not out.is_symlink():
        raise ConfigError(
            f"{out} exists and is not a site 'tldsec publish' wrote (a symbolic link to "
            f"{out.name}.versions/...): move it away or publish to another directory"
        )
    versions = out.parent / f"{out.name}.versions"
    versions.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="site-", dir=versions))
    try:
        for name, data in sorted(files.items()):
            rel = PurePosixPath(name)
            if rel.is_absolute() or ".." in rel.parts:
                raise ValueError(f"site file {name!r} is not a relative path inside the site")
            path = target.joinpath(*rel.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            os.chmod(path, 0o644)
        os.chmod(target, 0o755)
        link = versions / f".link-{target.name}"
        os.symlink(os.path.relpath(target, out.parent), link)
        os.replace(link, out)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    _prune(versions, target)
    return target


def _prune(versions: Path, current: Path) -> None:
    """Remove all but the newest ``KEEP`` version directories (never ``current``)."""
    dirs = sorted(
        (d for d in versions.iterdir() if d.is_dir() and not d.is_symlink()),
        key=lambda d: d.stat().st_mtime_ns,
    )
    for d in dirs[:-KEEP]:
        if d != current:
            shutil.rmtree(d, ignore_errors=True)

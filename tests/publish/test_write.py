"""The site is swapped in whole: a reader sees the old site or the new one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tldsec.errors import ConfigError
from tldsec.publish.write import KEEP, write_site


def test_publishing_again_swaps_the_link_and_keeps_one_old_version(tmp_path: Path) -> None:
    out = tmp_path / "public"
    first = write_site({"index.html": b"one", "sub/a.json": b"{}"}, out)
    assert out.is_symlink() and (out / "index.html").read_bytes() == b"one"
    assert (out / "sub" / "a.json").read_bytes() == b"{}"
    dirs = [first]
    for n in range(3):
        dirs.append(write_site({"index.html": f"v{n}".encode()}, out))
        os.utime(dirs[-1], ns=(n + 10**18, n + 10**18))  # mtime order without sleeping
    assert (out / "index.html").read_bytes() == b"v2"
    assert not (out / "sub").exists()  # nothing of an older site leaks into the new one
    left = sorted(p for p in (tmp_path / "public.versions").iterdir() if p.is_dir())
    assert len(left) == KEEP and dirs[-1] in left


def test_a_failed_build_leaves_the_served_site_alone(tmp_path: Path) -> None:
    out = tmp_path / "public"
    write_site({"index.html": b"good"}, out)
    with pytest.raises(ValueError, match="not a relative path"):
        write_site({"index.html": b"bad", "../escape.html": b"x"}, out)
    assert (out / "index.html").read_bytes() == b"good"
    assert not (tmp_path / "escape.html").exists()
    assert len([p for p in (tmp_path / "public.versions").iterdir() if p.is_dir()]) == 1


def test_a_directory_it_did_not_write_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "www"
    out.mkdir()
    (out / "precious.html").write_text("mine")
    with pytest.raises(ConfigError, match="is not a site 'tldsec publish' wrote"):
        write_site({"index.html": b"x"}, out)
    assert (out / "precious.html").read_text() == "mine"

"""The Security Officer's PINs for one command: asked at the terminal, read from an
SO-held file, or received from ``tldsec serve`` through a pipe; kept in memory only.

A home whose policy keeps the activation PIN with the Security Officer (``[keystore]
pin_source = "security-officer"``; DPS 4.2.4, 5.2.8, 5.4) stores no PIN. A command that
opens the HSM asks through ``OfficerPins`` (``Settings.pin_provider``), and only when it
opens it: read-only commands never ask. A PIN is never put on a command line or into the
environment, where other users and ``/proc`` could read it.
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
from pathlib import Path
from typing import TextIO

from tldsec.errors import ConfigError, KeyStoreLocked, KeyStoreLoginError
from tldsec.pinpipe import decode_pins

PIN_LENGTHS = range(4, 256)  # SoftHSM2's limits; PKCS#11 leaves them to the token


class OfficerPins:
    """A ``PinProvider``: each token's PIN asked once, from one place, then remembered."""

    def __init__(
        self,
        *,
        home: Path,
        pin_file: Path | None = None,
        pipe: TextIO | None = None,
        terminal: bool | None = None,
    ) -> None:
        self._home = home
        self._pin_file = pin_file
        self._pipe = pipe
        self._terminal = sys.stdin.isatty() if terminal is None else terminal
        self._pins: dict[str, str] = {}
        self._piped: dict[str, str] | None = None

    def __call__(self, name: str, label: str) -> str:
        if name not in self._pins:
            self._pins[name] = self._ask(name, label)
        return self._pins[name]

    def _ask(self, name: str, label: str) -> str:
        if self._pipe is not None:
            return self._from_pipe(name, label)
        if self._pin_file is not None:
            return read_pin_file(self._pin_file, self._home)
        if self._terminal:
            return getpass.getpass(f"Security Officer: user PIN of HSM token '{label}' ({name}): ")
        raise KeyStoreLocked(
            f"HSM token '{label}' ({name}) is locked: its PIN is held by the Security "
            "Officer (DPS 4.2.4); run this at a terminal to be asked, or pass --pin-file"
        )

    def _from_pipe(self, name: str, label: str) -> str:
        if self._piped is None:
            assert self._pipe is not None
            self._piped = decode_pins(self._pipe.readline())
        pin = self._piped.get(name)
        if pin is None:
            raise KeyStoreLocked(
                f"HSM token '{label}' ({name}) is locked: tldsec serve sent no PIN"
            )
        return pin


def read_pin_file(path: Path, home: Path) -> str:
    """The PIN in a Security Officer's file: outside the home (which stores no PIN,
    DPS 4.2.4), readable by its owner only."""
    try:
        resolved = path.resolve()
        if resolved.is_relative_to(home.resolve()):
            raise ConfigError(
                f"PIN file {path} is inside the home {home}, which must store no PIN "
                "(DPS 4.2.4): keep it on the Security Officer's own medium"
            )
        mode = os.stat(resolved).st_mode
        if stat.S_IMODE(mode) & 0o077:
            raise ConfigError(
                f"PIN file {path} is readable by group or others (mode "
                f"{stat.S_IMODE(mode):o}): chmod 600 {path}"
            )
        pin = resolved.read_text("utf-8").strip()
    except OSError as exc:
        raise KeyStoreLoginError(f"cannot read the PIN file {path}: {exc.strerror}") from exc
    check_pin(pin, str(path))
    return pin


def check_pin(pin: str, where: str) -> None:
    if len(pin.encode("utf-8")) not in PIN_LENGTHS:
        raise KeyStoreLoginError(f"the PIN from {where} must be 4..255 characters")

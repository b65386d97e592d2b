"""The one line in which ``tldsec serve`` hands the Security Officer's PINs to a cycle
child through its standard input: never its argv or environment, where ``/proc`` shows
them to other users (DPS 5.2.8)."""

from __future__ import annotations

import json

from tldsec.errors import KeyStoreLoginError


def encode_pins(pins: dict[str, str]) -> str:
    """One line for the pipe from ``tldsec serve`` to a cycle: {token name: PIN}."""
    return json.dumps(pins) + "\n"


def decode_pins(line: str) -> dict[str, str]:
    """The child's side of ``encode_pins``; anything but {name: PIN} is refused."""
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise KeyStoreLoginError("the PINs received on standard input are not {name: PIN}")
    return data

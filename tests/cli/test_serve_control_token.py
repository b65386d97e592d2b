"""Issue 22, item 3: ``POST /cycle`` on serve's health port is refused without the
home's control token (``HOME/control-token``, 0600); ``GET /health`` stays open."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.cli.test_serve_cycle_timeout import home, registry
from tldsec.clock import SystemClock
from tldsec.cycle import open_cycle
from tldsec.errors import ConfigError
from tldsec.service.control import TOKEN_FILE, control_token
from tldsec.service.http import HttpServer
from tldsec.service.supervisor import Service as Registry

__all__ = ["home"]  # the fixture


async def ask(port: int, request: str) -> tuple[int, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request.encode("latin-1"))
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_post_cycle_needs_the_token(home: Path) -> None:
    reg: Registry = registry(home, [], timeout=30)
    token_file = home / TOKEN_FILE
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert len(token) == 64

    async def scenario() -> list[tuple[int, dict[str, object]]]:
        with open_cycle(reg.settings, SystemClock(), keystore=False, audit=False) as checker:
            reg.scheduler = reg._scheduler(checker)
            server = HttpServer(reg.app())
            _, port = await server.start("127.0.0.1", 0)
            answers = [
                await ask(port, "POST /cycle HTTP/1.0\r\n\r\n"),
                await ask(port, "POST /cycle HTTP/1.0\r\nAuthorization: Bearer 00ff\r\n\r\n"),
            ]
            assert not reg.scheduler.trigger.is_set()  # refused: nothing requested
            answers.append(
                await ask(port, f"POST /cycle HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n")
            )
            assert reg.scheduler.trigger.is_set()
            answers.append(await ask(port, "GET /health HTTP/1.0\r\n\r\n"))
            await server.close()
            return answers

    (none, wrong, right, health) = asyncio.run(scenario())
    assert none[0] == wrong[0] == 401
    assert str(token_file) in str(none[1]["error"])
    assert right == (202, {"cycle": "requested"})
    assert health[0] in (200, 503) and "zone" in health[1]  # reading needs no token
    # The token stays the same across restarts.
    assert registry(home, [], timeout=30).control_token == token


def test_a_token_others_can_read_is_refused(home: Path) -> None:
    token = control_token(home)
    (home / TOKEN_FILE).chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others.*chmod 600"):
        control_token(home)
    (home / TOKEN_FILE).chmod(0o600)
    assert control_token(home) == token

"""``tldsec serve --console-listen``: the registrar console beside the cycle, EPP and the
hidden primary in one process. A registrar's person logs in (password + TOTP), adds a DS
to a delegated domain, and watches the change become live through real cycles: accepted,
then served by the hidden primary, then live (decision 51: with no secondary to ask,
serve asks its own primary's SOA, TSIG-signed)."""

from __future__ import annotations

import re
import ssl
from datetime import UTC, datetime
from pathlib import Path

import httpx2

from tests.distribute.homes import PASSWORD, REGISTRAR, Registry, make_home, tldsec
from tests.distribute.nameservers import free_port
from tests.service.running import Serve, secondary_config
from tldsec.console.totp import code_at
from tldsec.epp.tlscert import make_self_signed
from tldsec.registry.ds_rules import DsData

DS = DsData.of(4242, 13, 2, "AB" * 32)


def test_the_console_in_serve_and_a_change_going_live(tmp_path: Path) -> None:
    home = make_home(
        tmp_path / "home",
        extra=secondary_config() + "[verify]\nexternal = []\nsecond_sample = 50\n",
    )
    registry = Registry(home)
    try:
        registry.seed(2, ds_every=0)
    finally:
        registry.close()
    if not (home / "epp-cert.pem").exists():
        make_self_signed(home / "epp-cert.pem", home / "epp-key.pem", "localhost")
    out = tldsec("registrar", "totp", REGISTRAR, "--user", "alice", "--home", str(home)).stdout
    secret = re.search(r"secret: ([A-Z2-7]+)", out)
    assert secret
    tldsec("cycle", "--home", str(home))
    port = free_port()
    serve = Serve.start(
        home, tmp_path / "serve.log", "--no-epp", "--console-listen", f"127.0.0.1:{port}"
    )
    try:
        assert serve.health()[1]["console"] == ["127.0.0.1", port]
        # The start summary is written once every listener is up; /health may answer first.
        line = f"console          https://127.0.0.1:{port}/"
        serve.wait(lambda: line in serve.log.read_text(), "the start summary", timeout=30)
        assert line in serve.log.read_text()
        context = ssl.create_default_context(cafile=home / "epp-cert.pem")
        with httpx2.Client(
            base_url=f"https://localhost:{port}", verify=context, timeout=10, follow_redirects=True
        ) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert token
            page = client.post(
                "/login",
                data={"csrf": token.group(1), "client_id": REGISTRAR, "user": "alice",
                      "password": PASSWORD, "code": code_at(secret.group(1), datetime.now(UTC))},
            )  # fmt: skip
            assert "dom0.example" in page.text and "dom1.example" in page.text
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token
            page = client.post(
                "/domains/dom0.example/ds/add", data={"csrf": token.group(1), "line": f"DS {DS}"}
            )
            assert f"DS {DS} added." in page.text

            def state() -> str:
                return client.get("/domains/dom0.example").text.split("domain-update", 1)[1]

            # served by the hidden primary, or already live (the trace may be quicker
            # than the page's poll)
            serve.wait(
                lambda: any(
                    s in state()
                    for s in ("served</span>: the hidden primary serves serial", "live</span>:")
                ),
                "the console's change to be served",
            )
            # No secondary to ask (notify = []): serve asks its own primary, with the
            # TSIG key its allow-list wants, and the trace makes the change live.
            serve.wait(
                lambda: "live</span>: serial" in state(),
                "the console's change to be live",
            )
    finally:
        serve.stop()

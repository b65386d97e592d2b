"""DS changes in the console: the registry's services and DS rules, EPP's messages and
codes next to the field, CSRF on every form, audit as the person, live state."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
from dns.dnssectypes import DSDigest
from sqlalchemy import event, select

from tests.console.conftest import DOMAIN, PASSWORD, ConsoleWorld
from tests.fixtures.epp import RunningServer, TlsFiles
from tldsec.audit.adapters import registry_recorder
from tldsec.audit.log import AuditLog
from tldsec.audit.query import iter_entries
from tldsec.audit.schema import upgrade
from tldsec.console.actions import DsChanger
from tldsec.console.sessions import ConsoleSession
from tldsec.cycle.trace import Included, record
from tldsec.db.base import make_engine
from tldsec.epp.server import ServerLimits
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import HistoryEntry, SerialTrace, ZoneChange
from tldsec.registry.passwords import fast_hasher

# A P-256 KSK (flags 257) from RFC 6605 6.1's example; its DS for child.example. is
# computed by dnspython below, independently of the console's code path.
KSK = (
    "257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb"
    "krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA=="
)
GOOD = DsData.of(12345, 13, 2, "2BB183AF5F22588179A53B0A98631FAD1A292118B4F6F6F7A6A2B4E1A38D7D84")
_ERROR = re.compile(r'<p class="error" role="alert"[^>]*>(.*?)</p>', re.S)


def errors(text: str) -> list[str]:
    return [html.unescape(m) for m in _ERROR.findall(text)]


def post(cw: ConsoleWorld, action: str, data: dict[str, str], domain: str = DOMAIN):  # type: ignore[no-untyped-def]
    token = cw.csrf(f"/domains/{DOMAIN}")
    return cw.client.post(
        f"/domains/{domain}/ds/{action}", data={"csrf": token, **data}, follow_redirects=False
    )


def ds_of(cw: ConsoleWorld) -> list[str]:
    page = cw.client.get(f"/domains/{DOMAIN}").text
    return re.findall(r'<td class="digest">([0-9A-F]+)</td>', page)


def test_add_a_ds_line_then_remove_it(console_any: ConsoleWorld) -> None:
    cw = console_any
    assert cw.log_in().status_code == 303
    response = post(cw, "add", {"line": f"{DOMAIN}. 3600 IN DS {GOOD}"})
    assert response.status_code == 303, errors(response.text)
    page = cw.client.get(f"/domains/{DOMAIN}").text
    assert f"DS {GOOD} added." in page
    assert "Advisory check (could not check)" in page  # nothing answers; never blocking
    assert ds_of(cw) == [GOOD.digest]
    (actor, details), *_ = cw.events("registry.ds.change")
    assert actor == "registrar:alpha/alice"
    assert details["source"] == "127.0.0.1" and details["channel"] == "console"
    assert details["added"] == [str(GOOD)]
    assert [e for e, _, _ in cw.audited if e.startswith("ds.")] == ["ds.received", "ds.accepted"]
    with cw.world.db.read() as s:
        row = s.scalars(select(HistoryEntry).where(HistoryEntry.object_name == DOMAIN)).all()[-1]
        assert (row.client_id, row.action) == ("alpha", "update")
        assert json.loads(row.detail)["ds_added"] == [str(GOOD)]
        assert s.scalars(select(ZoneChange.name).where(ZoneChange.id > 0)).all()[-1] == DOMAIN

    response = post(
        cw,
        "remove",
        {"key_tag": "12345", "algorithm": "13", "digest_type": "2", "digest": GOOD.digest},
    )
    assert response.status_code == 303
    assert ds_of(cw) == []
    assert cw.events("registry.ds.change")[-1][1]["removed"] == [str(GOOD)]


def test_a_ds_computed_from_a_dnskey_or_cdnskey(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.log_in()
    key = dns.rdata.from_text("IN", "DNSKEY", KSK)
    owner = dns.name.from_text(DOMAIN + ".")
    sha256 = dns.dnssec.make_ds(owner, key, DSDigest.SHA256)
    sha384 = dns.dnssec.make_ds(owner, key, DSDigest.SHA384)
    assert (
        post(cw, "add", {"line": f"{DOMAIN}. IN DNSKEY {KSK}", "digest_type": "2"}).status_code
        == 303
    )
    assert post(cw, "add", {"line": f"CDNSKEY {KSK}", "digest_type": "4"}).status_code == 303
    assert sorted(ds_of(cw)) == sorted([sha256.digest.hex().upper(), sha384.digest.hex().upper()])
    # The same key as a CDS line (the DS form) is a duplicate now.
    response = post(cw, "add", {"line": f"CDS {sha256.to_text()}"})
    assert response.status_code == 422
    assert errors(response.text) == [
        f"DS {sha256.key_tag} 13 2 {sha256.digest.hex().upper()}: the domain already has this "
        "DS (EPP 2306)"
    ]


def test_lines_that_give_no_ds_are_explained_next_to_the_field(
    console_world: ConsoleWorld,
) -> None:
    cw = console_world
    cw.log_in()
    cases = {
        "hello": "no record type found",
        "other.example. IN DS 1 13 2 AB": "is for other.example., not for child.example.",
        "DS one 13 2 AB": "are numbers",
        "DNSKEY 257 3 13 !!!": "the DNSKEY record does not parse",
        "DNSKEY 0 3 13 " + KSK.split(" ", 3)[3]: "without the Zone Key flag",
        "CDS 0 0 0 00": "asks for the DS set to be deleted",
    }
    for line, message in cases.items():
        response = post(cw, "add", {"line": line})
        assert response.status_code == 422, line
        found = errors(response.text)
        assert len(found) == 1 and message in found[0], (line, found)
        assert f">{html.escape(line, quote=False)}</textarea>" in response.text  # kept
    assert ds_of(cw) == []


def test_refusals_carry_epp_s_messages_and_codes(
    console_world: ConsoleWorld, tls_files: TlsFiles
) -> None:
    """The same DS sent over EPP and pasted in the console: the same reasons."""
    cw = console_world
    cw.log_in()
    server = RunningServer(cw.world, tls_files, ServerLimits(workers=2))
    bad = [
        DsData.of(1, 4, 2, "ABCD"),  # unassigned algorithm (2004), digest length (2005)
        DsData.of(1, 253, 3, "00" * 32),  # assigned but refused by policy (2306)
        DsData.of(1, 13, 99, "AB" * 32),  # unassigned digest type (2004)
        DsData.of(1, 13, 1, "AB" * 20),  # SHA-1, assigned, refused by policy (2306)
    ]
    try:
        with server.client() as client:
            assert client.login("alpha", PASSWORD).code == 1000
            for ds in bad:
                epp = client.domain_update_ds(DOMAIN, add=(ds,))
                reasons = [e.text or "" for e in epp.findall(".//epp:extValue/epp:reason")]
                assert reasons, epp.raw
                response = post(cw, "add", {"line": f"DS {ds}"})
                assert response.status_code == 422
                assert errors(response.text) == [f"{r} (EPP {epp.code})" for r in reasons], ds
    finally:
        server.stop()
    assert ds_of(cw) == []
    rejected = cw.events("ds.rejected")
    assert len(rejected) == 4 and rejected[0][0] == "registrar:alpha/alice"


def test_remove_all_needs_the_box_ticked(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.log_in()
    assert post(cw, "add", {"line": f"DS {GOOD}"}).status_code == 303
    response = post(cw, "remove-all", {})
    assert response.status_code == 422
    assert "removing every DS removes the chain of trust" in errors(response.text)[0]
    assert ds_of(cw) == [GOOD.digest]
    assert post(cw, "remove-all", {"confirm": "yes"}).status_code == 303
    assert ds_of(cw) == []
    assert cw.events("registry.ds.change")[-1][1]["chain_of_trust_removed"] is True


def test_removing_a_ds_the_domain_lacks_is_epp_s_2306(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.log_in()
    response = post(
        cw, "remove", {"key_tag": "1", "algorithm": "13", "digest_type": "2", "digest": "AB" * 32}
    )
    assert response.status_code == 422
    assert errors(response.text) == [
        f"DS 1 13 2 {'AB' * 32}: the domain has no such DS to remove (EPP 2306)"
    ]


def test_every_form_without_its_csrf_token_is_403_and_changes_nothing(
    console_world: ConsoleWorld,
) -> None:
    cw = console_world
    cw.log_in()
    assert post(cw, "add", {"line": f"DS {GOOD}"}).status_code == 303
    url = f"/domains/{DOMAIN}/ds"
    for action, data in (
        ("add", {"line": f"DS {DsData.of(2, 13, 2, 'CD' * 32)}"}),
        (
            "remove",
            {"key_tag": "12345", "algorithm": "13", "digest_type": "2", "digest": GOOD.digest},
        ),
        ("remove-all", {"confirm": "yes"}),
    ):
        assert cw.client.post(f"{url}/{action}", data=data).status_code == 403
        forged = {**data, "csrf": "not-the-token"}
        assert cw.client.post(f"{url}/{action}", data=forged).status_code == 403
    assert ds_of(cw) == [GOOD.digest]
    assert len(cw.events("registry.ds.change")) == 1


def test_a_remove_form_without_a_ds_is_400(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.log_in()
    response = post(cw, "remove", {"key_tag": "x", "algorithm": "13", "digest_type": "2"})
    assert response.status_code == 400
    assert cw.events("ds.received") == []


def test_another_registrar_s_domain_is_not_there(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.log_in()
    assert cw.client.get("/domains/other.example").status_code == 404
    response = post(cw, "add", {"line": f"DS {GOOD}"}, domain="other.example")
    assert response.status_code == 404
    with cw.world.db.read() as s:
        names = s.scalars(select(ZoneChange.name)).all()
    assert "other.example" not in names


def test_without_login_every_page_goes_to_the_login(console_world: ConsoleWorld) -> None:
    cw = console_world
    for path in ("/domains", f"/domains/{DOMAIN}"):
        response = cw.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    response = cw.client.post(
        f"/domains/{DOMAIN}/ds/add", data={"line": "x"}, follow_redirects=False
    )
    assert response.status_code == 303


def test_search_and_pages(console_world: ConsoleWorld) -> None:
    cw = console_world
    with cw.world.db.write() as s:
        for n in range(7):
            create_domain(s, cw.world.tx("alpha"), DomainCreate(f"shop{n}.example", "auth-1"))
    cw.log_in()
    first = cw.client.get("/domains").text
    assert "8 domains." in first and "Page 1 of 3" in first
    assert re.findall(r'<a href="/domains/([^"]+)">', first) == [
        "child.example",
        "shop0.example",
        "shop1.example",
    ]
    third = cw.client.get("/domains?page=3").text
    assert re.findall(r'<a href="/domains/([^"]+)">', third) == ["shop5.example", "shop6.example"]
    found = cw.client.get("/domains?q=SHOP4").text
    assert "1 domain matching" in found
    assert re.findall(r'<a href="/domains/([^"]+)">', found) == ["shop4.example"]
    assert "0 domains" in cw.client.get("/domains?q=%25").text  # LIKE wildcards are literal


def test_live_state_follows_the_cycle_and_the_distribution(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.log_in()
    assert post(cw, "add", {"line": f"DS {GOOD}"}).status_code == 303
    with cw.world.db.read() as s:
        change = max(s.scalars(select(ZoneChange.id)))
    assert "committed; waiting for the next zone cycle" in cw.client.get(f"/domains/{DOMAIN}").text
    zones = cw.tmp / "zones"
    zones.mkdir()
    (zones / "cycle.json").write_text(json.dumps({"serial": 2024030101, "change_id": change}))
    page = cw.client.get(f"/domains/{DOMAIN}").text
    assert "in zone</span>: serial 2024030101 (signed and verified) includes it" in page
    dist = cw.tmp / "dist"
    dist.mkdir()
    (dist / "current").write_text("2024030102\n")
    page = cw.client.get(f"/domains/{DOMAIN}").text
    assert "served</span>: the hidden primary serves serial 2024030102" in page

    # The change trace (decision 51): serve saw every secondary answer a serial with it.
    at = cw.world.clock.now()
    record(cw.world.db, 1, 2024030101, Included(after=change - 1, upto=change), [("built", at)])
    with cw.world.db.write() as s:
        s.add(SerialTrace(serial=2024030101, stage="live", node="", at=at))
    page = cw.client.get(f"/domains/{DOMAIN}").text
    assert (
        "live</span>: serial 2024030101, which includes it, is served by every secondary "
        f"since {at:%Y-%m-%d %H:%M:%S} UTC"
    ) in page


def test_a_console_ds_change_is_one_append_of_the_audit_log(
    console_world: ConsoleWorld, tmp_path: Path
) -> None:
    """As over EPP (decision 56): a change's entries (received, changed, accepted; or
    received and rejected) are held and written in one audit transaction, as the person
    with the source address; they were three appends (two for a refusal)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    commits: list[str] = []
    event.listen(engine, "commit", lambda _conn: commits.append("audit"))
    world = console_world.world
    log = AuditLog(engine, world.clock, signer=None)
    changer = DsChanger(world.db, world.rules, fast_hasher(), world.clock, registry_recorder(log))
    who = ConsoleSession("alpha", world.actors["alpha"].registrar_id, "alice", "192.0.2.7",
                         "csrf", world.clock.now())  # fmt: skip
    try:
        assert changer.change(who, DOMAIN, add=(GOOD,)).refusal is None
        assert commits == ["audit"]
        commits.clear()
        refused = changer.change(who, DOMAIN, add=(DsData.of(1, 13, 1, "AB" * 20),))
        assert refused.refusal is not None and refused.refusal.code == 2306
        assert commits == ["audit"]
        entries = [e for e in iter_entries(engine) if e.event.startswith("ds.")]
        assert [e.event for e in entries] == [
            "ds.received", "ds.changed", "ds.accepted", "ds.received", "ds.rejected",
        ]  # fmt: skip
        assert {e.actor for e in entries} == {"registrar:alpha/alice"}
        assert {e.details["source"] for e in entries} == {"192.0.2.7"}
    finally:
        engine.dispose()

"""Issue 16, DPS 7: the compliance report renders a period with every section an auditor
needs, and flags what is off (a late key, an open incident, a refused zone, ...)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.audit.test_insider import make_home
from tldsec.audit.config import open_audit_log
from tldsec.cli.main import main
from tldsec.clock import FakeClock
from tldsec.settings import load_settings

from .conftest import START

Run = Callable[..., tuple[int, str, str]]
SECTIONS = (
    "integrity",
    "keys",
    "ceremonies",
    "incidents",
    "gate",
    "expiry",
    "ds",
    "access",
    "retention",
)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


class _Page(HTMLParser):
    """The section ids, their headings, and every table cell, as a reader sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.sections.append(dict(attrs).get("id") or "")
        self._in_cell = tag == "td"

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_cell = False


def _period(home: Path) -> None:
    """Ninety days of a registry's life, with one of everything the report looks at."""
    clock = FakeClock(START)
    log = open_audit_log(load_settings(home), clock)

    def at(days: float, event: str, actor: str, **details: object) -> None:
        clock.set(START + timedelta(days=days))
        log.record(event, actor=actor, **details)

    km = "component:key-manager"
    at(1, "key.activated", km, key_id="zsk-1", role="zsk")
    at(2, "ceremony.started", "person:ann", ceremony="c1", operation="backup")
    at(2.01, "ceremony.approved", "person:ann", ceremony="c1", person="ann", role="SA")
    at(2.02, "ceremony.approved", "person:bob", ceremony="c1", person="bob", role="SO")
    at(2.03, "ceremony.approved", "person:cy", ceremony="c1", person="cy", role="WITNESS")
    at(
        2.04,
        "ceremony.completed",
        "person:ann",
        ceremony="c1",
        operation="backup",
        people=["ann (SA)", "bob (SO)", "cy (WITNESS)"],
    )
    at(3, "ds.received", "registrar:reg-1", domain="a.example")
    at(3, "ds.accepted", "registrar:reg-1", domain="a.example")
    at(4, "ds.received", "registrar:reg-2", domain="b.example")
    at(4, "ds.rejected", "registrar:reg-2", domain="b.example", rules=["algorithm-not-allowed"])
    at(5, "access.login_failed", "registrar:reg-2", channel="epp", reason="bad password")
    at(5.1, "access.login_failed", "person:eve", channel="hsm", error="wrong PIN")
    at(6, "zone.verified", "component:verifier", serial=2025030601, mode="full")
    at(
        6,
        "zone.published",
        "component:distributor",
        serial=2025030601,
        earliest_signature_expiry=START + timedelta(days=20),
    )
    at(
        7,
        "zone.verification_failed",
        "component:verifier",
        serial=2025030701,
        first_finding="rrsig-expiry: RRSIG of a.example expired",
    )
    at(8, "zone.verified", "component:verifier", serial=2025030801, mode="incremental")
    at(
        8,
        "zone.published",
        "component:distributor",
        serial=2025030801,
        earliest_signature_expiry=START + timedelta(days=22),
    )
    at(121, "key.activated", km, key_id="zsk-2", role="zsk")  # 30 days late (ZSK lifetime 90)
    # DPS 4.6: an unsigned zone published after going insecure's last step (decision 46)
    at(122, "zone.verified", "component:verifier", serial=2025070201, mode="insecure-by-design")
    log.checkpoint()
    log.close()


def test_the_report_renders_every_section_and_flags_what_is_off(tmp_path: Path, run: Run) -> None:
    home = make_home(tmp_path)
    _period(home)
    out = tmp_path / "report.html"
    code, text, err = run(
        "audit", "report", "--home", home, "--from", "2025-03-01", "--to", "2025-07-15", "-o", out
    )
    assert code == 0, err
    assert "compliance report 2025-03-01 to 2025-07-15" in text
    page = _Page()
    page.feed(out.read_text("utf-8"))
    assert page.sections == ["overview", *SECTIONS]
    cells = page.cells
    # integrity: the whole log verified against the checkpoint files
    assert any(c.startswith("checkpoint files") for c in cells)
    # keys: the second ZSK came 30 days after its plan
    assert "LATE" in cells and "+30.0 days" in cells and "first of its role" in cells
    # ceremonies: participants and quorum
    assert "ann (SA), bob (SO), cy (WITNESS)" in cells
    # incidents: the refused zone, closed by the next publication
    assert "zone.verification_failed" in cells
    assert "zone serial 2025030801 published 2025-03-09 12:00Z" in cells
    # gate: counts; full and incremental verifications
    assert cells[cells.index("zones published") + 1] == "2"
    assert cells[cells.index("full verifications") + 1] == "1"
    assert cells[cells.index("unsigned zones verified as insecure by design") + 1] == "1"
    # signature-expiry margin at each publication
    assert "14.0 days" in cells and "14.0 days" in cells
    # registrar DS activity with the rule of each refusal
    assert "algorithm-not-allowed x1" in cells
    # access failures, by channel
    assert "hsm" in cells and "epp" in cells
    # retention: the next archive run
    assert "next archive and purge" in cells
    html = out.read_text("utf-8")
    assert "attention</span>2 key events; 1 off the DPS 6.4 schedule" in html


def test_the_report_refuses_an_empty_period_and_unknown_formats(home_dir: Path, run: Run) -> None:
    code, _, err = run(
        "audit",
        "report",
        "--home",
        home_dir,
        "--from",
        "2025-03-02",
        "--to",
        "2025-03-01",
        "-o",
        home_dir / "r.html",
    )
    assert code == 1 and "--to must be after --from" in err
    code, _, err = run(
        "audit",
        "report",
        "--home",
        home_dir,
        "--from",
        "2025-03-01",
        "--to",
        "2025-03-02",
        "-o",
        home_dir / "r.txt",
    )
    assert code == 1 and "written as .html or .pdf" in err


@pytest.fixture
def home_dir(tmp_path: Path) -> Path:
    return make_home(tmp_path)


class _Titles(HTMLParser):
    """The text of every ``h2`` heading of the page (the sections' titles)."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._depth += 1
            self.titles.append("")
        elif tag == "span" and self._depth:
            self._depth += 1  # the DPS reference after the title

    def handle_data(self, data: str) -> None:
        if self._depth == 1:
            self.titles[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h2", "span") and self._depth:
            self._depth -= 1


def test_the_report_prints_to_a_pdf_with_every_section(tmp_path: Path, run: Run) -> None:
    for tool in ("chromium", "pdftotext"):
        assert shutil.which(tool), f"{tool} is missing: run scripts/install-debian-deps"
    home = make_home(tmp_path)
    _period(home)
    period = ("--from", "2025-03-01", "--to", "2025-07-15")
    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    assert run("audit", "report", "--home", home, *period, "-o", html)[0] == 0
    code, text, err = run("audit", "report", "--home", home, *period, "-o", pdf)
    assert code == 0, err
    assert "compliance report 2025-03-01 to 2025-07-15" in text
    assert pdf.read_bytes().startswith(b"%PDF-")
    headings = _Titles()
    headings.feed(html.read_text("utf-8"))
    titles = [t.strip() for t in headings.titles]
    assert len(titles) == len(SECTIONS) + 1 and all(titles)
    printed = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(printed.split())
    missing = [t for t in titles if " ".join(t.split()) not in flat]
    assert not missing, f"sections not in the PDF: {missing}\n{printed[:2000]}"
    assert "2025-03-01" in flat and "LATE" in flat


def test_the_report_of_one_zone_keeps_its_entries_and_the_installations(
    tmp_path: Path, run: Run
) -> None:
    """Decision 58: --zone leaves out another zone's entries, keeps those naming none."""
    home = make_home(tmp_path)
    clock = FakeClock(START + timedelta(days=1))
    log = open_audit_log(load_settings(home), clock)
    for zone, serial in (("example.", 1), ("other.", 2), ("other.", 3)):
        log.record("zone.published", actor="component:distributor", zone=zone, serial=serial)
    log.record("access.login_failed", actor="person:eve", channel="hsm", error="wrong PIN")
    log.checkpoint()
    log.close()
    period = ("--from", "2025-03-01", "--to", "2025-04-01")

    def published(*zone: str) -> tuple[str, list[str]]:
        out = tmp_path / "report.html"
        code, _, err = run("audit", "report", "--home", home, *period, *zone, "-o", out)
        assert code == 0, err
        page = _Page()
        html = out.read_text("utf-8")
        page.feed(html)
        return html, page.cells

    html, cells = published()
    assert cells[cells.index("zones published") + 1] == "3" and "hsm" in cells
    html, cells = published("--zone", "other")
    assert cells[cells.index("zones published") + 1] == "2" and "hsm" in cells
    assert "DNSSEC compliance report for other." in html
    _, cells = published("--zone", "example.")
    assert cells[cells.index("zones published") + 1] == "1"

"""``tldsec audit report``: gather the period's facts, build the report, render it.

The facts are the audit log's own: the whole log is verified first (with its anchors and
archives), then the entries up to the period's end are read once. A PDF is the HTML page
printed by headless Chromium (Debian package ``chromium``), when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

from tldsec.audit.compliance import build_report
from tldsec.audit.compliance_html import render
from tldsec.audit.config import AuditConfig
from tldsec.audit.log import AuditLog
from tldsec.audit.maintenance import schedule
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.audit.retention import audit_retention
from tldsec.audit.verification import verify_database
from tldsec.errors import AuditError
from tldsec.policy import Policy
from tldsec.settings import Settings, home_zone_policies

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def compliance_page(
    log: AuditLog,
    settings: Settings,
    config: AuditConfig,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    zone: str | None = None,
) -> str:
    """The report of ``start <= time < end`` as one HTML page: of every entry, or of
    ``zone``'s and the installation-wide ones (decisions.md 58). The key schedule and
    signature expiry are judged by ``zone``'s policy where it is one of the home's
    zones; without ``zone``, once per zone of the home, each by its own policy (decision
    83); the retention is the home's (the longest of its zones', decision 79)."""
    assert log.signer is not None
    retention = audit_retention(settings)
    policies = _judged_by(settings, zone)
    anchors = config.anchors()
    try:
        verification = verify_database(
            log.engine,
            {log.signer.key_id: log.signer.public_key()},
            now=now,
            anchors=anchors,
            archive_dir=config.archive_dir,
            archive_retention=retention.policy.archive_retention,
        )
    finally:
        for anchor in anchors:
            closer = getattr(anchor, "close", None)
            if closer is not None:
                closer()
    due = schedule(log.engine, retention.policy, config.archive_dir, config.archive_interval)
    report = build_report(
        iter_entries(log.engine, EntryFilter(until=end, zone=zone)),
        zone=zone or ", ".join(settings.zones),
        start=start,
        end=end,
        generated=now,
        policies=policies,
        verification=verification,
        schedule=due,
        retention=retention,
    )
    return render(report)


def _judged_by(settings: Settings, zone: str | None) -> list[tuple[str, Policy]]:
    """The zones whose key schedule and signature expiry the report judges, each with
    its policy: ``zone`` (by the home's policy where the home does not serve it: entries
    of a zone since removed), or every zone of the home."""
    if zone is None:
        return [(origin, settings.for_zone(origin).policy) for origin in settings.zones]
    if zone in settings.zones:
        return [(zone, settings.for_zone(zone).policy)]
    if len(set(home_zone_policies(settings).values())) > 1:
        raise AuditError(
            f"{zone} is not a zone of this home, whose zones follow different policies: "
            f"name one of {', '.join(settings.zones)} with --zone, or none for the whole home"
        )
    return [(zone, settings.policy)]


def find_browser() -> str | None:
    return next((path for b in BROWSERS if (path := shutil.which(b))), None)


def write_pdf(html: str, output: Path) -> None:
    """Print the page to ``output`` with headless Chromium."""
    browser = find_browser()
    if browser is None:
        raise AuditError(
            "a PDF needs Chromium (apt-get install chromium): write report.html and print "
            "it from a browser instead"
        )
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, "utf-8")
        pdf = Path(tmp) / "report.pdf"
        # A profile of its own, nothing fetched or synced: the page is a local file and
        # a closed network must not hold the print up (nor the operator's profile leak in).
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={pdf}",
            "--no-pdf-header-footer",
            page.as_uri(),
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            raise AuditError(f"{browser} could not print the report: {exc}") from exc
        if not pdf.exists():
            raise AuditError(f"{browser} wrote no PDF")
        shutil.move(pdf, output)

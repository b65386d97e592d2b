"""The compliance report as one self-contained HTML page (print it to PDF from a browser,
or ``--output report.pdf`` with headless Chromium)."""

from __future__ import annotations

from html import escape

from tldsec.audit.compliance import ATTENTION, OK, ComplianceReport, Section

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1d2430; margin: 2.5em auto; max-width: 70em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
.meta { color: #5a6372; margin-bottom: 1.5em; }
section { border-top: 1px solid #d5d9e0; padding: 0.6em 0 1em; page-break-inside: avoid; }
h2 { font-size: 1.15em; margin: 0.3em 0; }
h2 .dps { color: #5a6372; font-weight: normal; font-size: 0.85em; }
.verdict { display: inline-block; padding: 0.05em 0.6em; border-radius: 0.8em; font-size: 0.8em;
  font-weight: 600; margin-right: 0.5em; text-transform: uppercase; }
.ok { background: #dff3e4; color: #1e6b34; } .attention { background: #fde2e1; color: #9b1c1c; }
.info { background: #e3ecfa; color: #1f4f99; }
table { border-collapse: collapse; width: 100%; margin-top: 0.5em; font-size: 0.92em; }
th, td { text-align: left; padding: 0.25em 0.6em; border-bottom: 1px solid #eceff3;
  vertical-align: top; }
th { background: #f4f6f9; }
td.flag { font-weight: 600; color: #9b1c1c; }
.summary-table td:first-child { width: 16em; }
"""
FLAGS = {"LATE", "EARLY", "EMERGENCY", "not closed", "missing", "changed", "does not verify"}


def render(report: ComplianceReport) -> str:
    """The whole page."""
    overview = "".join(
        f"<tr><td><a href='#{s.key}'>{escape(s.title)}</a></td>"
        f"<td>{_badge(s.status)}{escape(s.summary)}</td></tr>"
        for s in report.sections
    )
    body = "".join(_section(s) for s in report.sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>DNSSEC compliance report {escape(report.zone)} "
        f"{report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}</title><style>{STYLE}</style></head>"
        "<body><header>"
        f"<h1>DNSSEC compliance report for {escape(report.zone)}</h1>"
        f"<div class='meta'>Period {report.start:%Y-%m-%d %H:%M}Z to {report.end:%Y-%m-%d %H:%M}Z"
        f" &middot; {report.entries} audit entries &middot; generated "
        f"{report.generated:%Y-%m-%d %H:%M}Z by tldsec from its audit log (DPS 4.4, 7). "
        "Each part names the DPS section it checks.</div></header>"
        f"<section id='overview'><h2>Overview</h2><table class='summary-table'>{overview}"
        f"</table></section>{body}</body></html>\n"
    )


def _badge(status: str) -> str:
    word = {OK: "ok", ATTENTION: "attention"}.get(status, "for the record")
    return f"<span class='verdict {status}'>{word}</span>"


def _section(s: Section) -> str:
    table = ""
    if s.headers:
        head = "".join(f"<th>{escape(h)}</th>" for h in s.headers)
        rows = (
            "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in s.rows)
            or f"<tr><td colspan='{len(s.headers)}'>none in the period</td></tr>"
        )
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return (
        f"<section id='{s.key}'><h2>{escape(s.title)} <span class='dps'>({escape(s.dps)})</span>"
        f"</h2><p>{_badge(s.status)}{escape(s.summary)}</p>{table}</section>"
    )


def _cell(text: str) -> str:
    flag = " class='flag'" if text in FLAGS or text.startswith(("ABORTED", "finding")) else ""
    return f"<td{flag}>{escape(text)}</td>"

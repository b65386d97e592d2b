"""Reading a built site back: every page parsed with html.parser, links and tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

VOID = {"meta", "link", "br", "img", "input", "hr"}


@dataclass
class Page:
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # id -> body rows
    pres: dict[str, str] = field(default_factory=dict)  # id -> text
    text: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.stack: list[str] = []
        self._table: str | None = None
        self._in_tbody = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._pre: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if a.get("id"):
            ident = a["id"] or ""
            assert ident not in self.page.ids, f"duplicate id {ident}"
            self.page.ids.add(ident)
        for attr in ("href", "src"):
            if a.get(attr):
                self.page.links.append(a[attr] or "")
        if tag == "table":
            self._table = a.get("id") or ""
            self.page.tables[self._table] = []
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "pre":
            self._pre = (a.get("id") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.page.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "pre" and self._pre is not None:
            self.page.pres[self._pre[0]] = "".join(self._pre[1])
            self._pre = None

    def handle_data(self, data: str) -> None:
        self.page.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._pre is not None:
            self._pre[1].append(data)


def parse(html: bytes) -> Page:
    reader = _Reader()
    reader.feed(html.decode("utf-8"))
    reader.close()
    assert reader.stack == [], f"unclosed {reader.stack}"
    return reader.page


def check_site(files: Mapping[str, bytes]) -> dict[str, Page]:
    """Parse every page; every internal link names a file of the site (and an id of it)."""
    pages = {name: parse(data) for name, data in files.items() if name.endswith(".html")}
    for name, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue  # the operator's base_url
            target = parts.path or name
            assert target in files, f"{name}: link {link!r} to a file the site lacks"
            if parts.fragment:
                assert parts.fragment in pages[target].ids, f"{name}: no #{parts.fragment}"
    return pages

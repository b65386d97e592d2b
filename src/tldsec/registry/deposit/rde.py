"""RFC 9022 full deposits (the registry data escrow format, in the RFC 8909 container):
read as a stream and written as a stream, so a million domains never sit in one tree.

What is read and written: ``rdeRegistrar:registrar`` (id, name, email, crDate),
``rdeContact:contact`` (id, status, postalInfo, voice, fax, email, clID, crRr, crDate,
upRr, upDate), ``rdeHost:host`` (name, status, addr, clID, crRr, crDate, upRr, upDate)
and ``rdeDomain:domain`` (name, status, registrant, contact, ns/hostObj, clID, crRr,
crDate, exDate, upRr, upDate, secDNS:dsData), and the ``rdeHeader:header`` counts.
RFC 9022 escrows no authInfo; a tldsec deposit carries each object's Argon2id hash in
its own object of the tldsec namespace (``tldsecRde:auth``, docs/registry.md), which
other registries' readers skip as an unknown object (RFC 8909 5: the contents element
takes any object). Derived statuses (ok, linked, inactive, pending*) are not facts
tldsec stores and are dropped on reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from lxml import etree

from tldsec.errors import FileUnusable
from tldsec.registry.deposit.objects import (
    Deposit,
    DepositContact,
    DepositDomain,
    DepositDs,
    DepositHost,
    DepositRegistrar,
)

RDE = "urn:ietf:params:xml:ns:rde-1.0"
HEADER = "urn:ietf:params:xml:ns:rdeHeader-1.0"
DOMAIN = "urn:ietf:params:xml:ns:rdeDomain-1.0"
HOST = "urn:ietf:params:xml:ns:rdeHost-1.0"
CONTACT = "urn:ietf:params:xml:ns:rdeContact-1.0"
REGISTRAR = "urn:ietf:params:xml:ns:rdeRegistrar-1.0"
EPP_DOMAIN = "urn:ietf:params:xml:ns:domain-1.0"
EPP_CONTACT = "urn:ietf:params:xml:ns:contact-1.0"
SECDNS = "urn:ietf:params:xml:ns:secDNS-1.1"
AUTH = "urn:tldsec:params:xml:ns:rdeAuth-1.0"  # tldsec's own object: authInfo hashes
NSMAP = {
    "rde": RDE,
    "rdeHeader": HEADER,
    "rdeDomain": DOMAIN,
    "rdeHost": HOST,
    "rdeContact": CONTACT,
    "rdeRegistrar": REGISTRAR,
    "domain": EPP_DOMAIN,
    "contact": EPP_CONTACT,
    "secDNS": SECDNS,
    "tldsecRde": AUTH,
}
# RFC 5731 2.3, RFC 5732 2.3, RFC 5733 2.2: statuses the server derives, never stored.
DERIVED = frozenset(
    {
        "ok",
        "linked",
        "inactive",
        "pendingCreate",
        "pendingDelete",
        "pendingRenew",
        "pendingTransfer",
        "pendingUpdate",
    }
)
_OBJECTS = {
    f"{{{REGISTRAR}}}registrar",
    f"{{{CONTACT}}}contact",
    f"{{{HOST}}}host",
    f"{{{DOMAIN}}}domain",
    f"{{{AUTH}}}auth",
    f"{{{HEADER}}}header",
}


def read(path: Path) -> Deposit:
    """The deposit in ``path``; objects that do not parse are listed as unreadable with
    their line, so a dry run names them too. A file that is not XML raises."""
    deposit = Deposit()
    try:
        with path.open("rb") as stream:
            _read_stream(stream, deposit, deposit.auth)
    except OSError as exc:
        raise FileUnusable(f"{path}: {exc.strerror or exc}") from exc
    except etree.XMLSyntaxError as exc:
        raise FileUnusable(f"{path}: not well-formed XML: {exc}") from exc
    return deposit


def _read_stream(stream: IO[bytes], deposit: Deposit, auth: dict[tuple[str, str], str]) -> None:
    parser = etree.iterparse(
        stream,
        events=("start", "end"),
        tag=[f"{{{RDE}}}deposit", *_OBJECTS],  # only these reach Python: the rest is C
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
    )
    root_seen = False
    for event, element in parser:
        if event == "start":
            if not root_seen and element.tag != f"{{{RDE}}}deposit":
                raise FileUnusable(
                    f"line {element.sourceline}: the root element is {element.tag}, "
                    f"not an RFC 9022 rde:deposit"
                )
            if not root_seen:
                root_seen = True
                if element.tag != f"{{{RDE}}}deposit":
                    raise FileUnusable(
                        f"line {element.sourceline}: the root element is {element.tag}, "
                        f"not an RFC 9022 rde:deposit"
                    )
                if element.get("type") not in ("FULL", None):
                    raise FileUnusable(
                        f"line {element.sourceline}: a {element.get('type')} deposit; "
                        "only a FULL deposit is imported"
                    )
            continue
        if element.tag not in _OBJECTS:
            continue
        where = f"line {element.sourceline}"
        try:
            _one(element, where, deposit, auth)
        except (ValueError, TypeError) as exc:
            deposit.unreadable.append((where, str(exc)))
        element.clear(keep_tail=False)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]
    if not root_seen:
        raise FileUnusable("the root element is not an RFC 9022 rde:deposit")


def _one(el: Any, where: str, deposit: Deposit, auth: dict[tuple[str, str], str]) -> None:
    tag = el.tag
    if tag == f"{{{REGISTRAR}}}registrar":
        deposit.registrars.append(
            DepositRegistrar(
                client_id=_need(el, REGISTRAR, "id"),
                name=_text(el, REGISTRAR, "name") or _need(el, REGISTRAR, "id"),
                email=_text(el, REGISTRAR, "email") or "",
                where=where,
                created_at=_date(el, REGISTRAR, "crDate"),
            )
        )
    elif tag == f"{{{CONTACT}}}contact":
        deposit.contacts.append(
            DepositContact(
                handle=_need(el, CONTACT, "id"),
                registrar=_need(el, CONTACT, "clID"),
                email=_need(el, CONTACT, "email"),
                where=where,
                postal=tuple(_postal(p) for p in el.iterfind(f"{{{CONTACT}}}postalInfo")),
                voice=_text(el, CONTACT, "voice"),
                fax=_text(el, CONTACT, "fax"),
                statuses=_statuses(el, CONTACT),
                created_at=_date(el, CONTACT, "crDate"),
                updated_at=_date(el, CONTACT, "upDate"),
                creator=_text(el, CONTACT, "crRr"),
                updater=_text(el, CONTACT, "upRr"),
            )
        )
    elif tag == f"{{{HOST}}}host":
        addresses = []
        for a in el.iterfind(f"{{{HOST}}}addr"):
            version = {"v4": 4, "v6": 6}.get(a.get("ip", "v4"))
            if version is None:
                raise ValueError(f"host:addr ip={a.get('ip')!r} is neither v4 nor v6")
            addresses.append(((a.text or "").strip(), version))
        deposit.hosts.append(
            DepositHost(
                name=_need(el, HOST, "name"),
                registrar=_need(el, HOST, "clID"),
                where=where,
                addresses=tuple(addresses),
                statuses=_statuses(el, HOST),
                created_at=_date(el, HOST, "crDate"),
                updated_at=_date(el, HOST, "upDate"),
                creator=_text(el, HOST, "crRr"),
                updater=_text(el, HOST, "upRr"),
            )
        )
    elif tag == f"{{{DOMAIN}}}domain":
        ns = el.find(f"{{{DOMAIN}}}ns")
        names: list[str] = []
        if ns is not None:
            if ns.find(f"{{{EPP_DOMAIN}}}hostAttr") is not None:
                raise ValueError("domain:hostAttr name servers are not supported (hostObj only)")
            names = [(h.text or "").strip() for h in ns.iterfind(f"{{{EPP_DOMAIN}}}hostObj")]
        ds = []
        for d in el.iterfind(f"{{{DOMAIN}}}secDNS/{{{SECDNS}}}dsData"):
            ds.append(
                DepositDs(
                    int(_need(d, SECDNS, "keyTag")),
                    int(_need(d, SECDNS, "alg")),
                    int(_need(d, SECDNS, "digestType")),
                    _need(d, SECDNS, "digest"),
                )
            )
        if el.find(f"{{{DOMAIN}}}secDNS/{{{SECDNS}}}keyData") is not None:
            raise ValueError("secDNS:keyData is not supported (the registry keeps DS only)")
        deposit.domains.append(
            DepositDomain(
                name=_need(el, DOMAIN, "name"),
                registrar=_need(el, DOMAIN, "clID"),
                where=where,
                created_at=_date(el, DOMAIN, "crDate"),
                expires_at=_date(el, DOMAIN, "exDate"),
                updated_at=_date(el, DOMAIN, "upDate"),
                creator=_text(el, DOMAIN, "crRr"),
                updater=_text(el, DOMAIN, "upRr"),
                statuses=_statuses(el, DOMAIN),
                ns=tuple(names),
                ds=tuple(ds),
                registrant=_text(el, DOMAIN, "registrant"),
                contacts=tuple(
                    (c.get("type", ""), (c.text or "").strip())
                    for c in el.iterfind(f"{{{DOMAIN}}}contact")
                ),
            )
        )
    elif tag == f"{{{AUTH}}}auth":
        kind, name = el.get("type", ""), el.get("name", "")
        value = _text(el, AUTH, "hash") or _text(el, AUTH, "pw")
        if kind not in ("domain", "contact") or not name or not value:
            raise ValueError("tldsecRde:auth needs type (domain|contact), name and hash or pw")
        auth[(kind, name)] = value
    elif tag == f"{{{HEADER}}}header":
        deposit.tld = _text(el, HEADER, "tld")


def _text(el: Any, ns: str, name: str) -> str | None:
    child = el.find(f"{{{ns}}}{name}")
    if child is None or child.text is None:
        return None
    return str(child.text).strip()


def _need(el: Any, ns: str, name: str) -> str:
    value = _text(el, ns, name)
    if not value:
        raise ValueError(f"{etree.QName(el).localname} without {name}")
    return value


def _date(el: Any, ns: str, name: str) -> datetime | None:
    value = _text(el, ns, name)
    return None if value is None else parse_date(value)


def parse_date(value: str) -> datetime:
    """An XML Schema dateTime (RFC 3339) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an RFC 3339 date and time") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment.astimezone(UTC)


def _statuses(el: Any, ns: str) -> tuple[str, ...]:
    found = (s.get("s", "") for s in el.iterfind(f"{{{ns}}}status"))
    return tuple(sorted({s for s in found if s not in DERIVED}))


def _postal(p: Any) -> dict[str, object]:
    def t(name: str) -> str | None:
        child = p.find(f"{{{EPP_CONTACT}}}{name}")
        return None if child is None or child.text is None else str(child.text)

    addr = p.find(f"{{{EPP_CONTACT}}}addr")
    info: dict[str, object] = {"type": p.get("type", "int"), "name": t("name") or ""}
    if t("org") is not None:
        info["org"] = t("org")
    if addr is not None:

        def a(name: str) -> str | None:
            child = addr.find(f"{{{EPP_CONTACT}}}{name}")
            return None if child is None or child.text is None else str(child.text)

        info["street"] = [s.text or "" for s in addr.iterfind(f"{{{EPP_CONTACT}}}street")]
        info["city"] = a("city") or ""
        for key in ("sp", "pc"):
            if a(key) is not None:
                info[key] = a(key)
        info["cc"] = a("cc") or ""
    return info


# --- writing -------------------------------------------------------------------------------


def _date_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(
    out: IO[bytes],
    deposit_id: str,
    watermark: datetime,
    tld: str,
    registrars: Iterator[DepositRegistrar],
    contacts: Iterator[DepositContact],
    hosts: Iterator[DepositHost],
    domains: Iterator[DepositDomain],
    counts: dict[str, int],
) -> None:
    """Write a FULL deposit to ``out``: header counts first (``counts``), then the
    objects as the iterators yield them, then the authInfo hashes."""
    auths: list[tuple[str, str, str]] = []
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        root = f"{{{RDE}}}deposit"
        with xf.element(root, {"type": "FULL", "id": deposit_id}, nsmap=NSMAP):
            xf.write("\n", _el(RDE, "watermark", _date_text(watermark)), "\n")
            menu = _top(RDE, "rdeMenu")
            _sub(menu, RDE, "version", "1.0")
            for uri in (HEADER, REGISTRAR, CONTACT, HOST, DOMAIN, AUTH):
                _sub(menu, RDE, "objURI", uri)
            xf.write(menu, "\n")
            with xf.element(f"{{{RDE}}}contents"):
                xf.write("\n")
                header = _top(HEADER, "header")
                _sub(header, HEADER, "tld", tld)
                for uri, key in (
                    (DOMAIN, "domains"),
                    (HOST, "hosts"),
                    (CONTACT, "contacts"),
                    (REGISTRAR, "registrars"),
                ):
                    _sub(header, HEADER, "count", str(counts.get(key, 0))).set("uri", uri)
                xf.write(header, "\n")
                for r in registrars:
                    xf.write(_registrar(r), "\n")
                for c in contacts:
                    xf.write(_contact(c), "\n")
                    if c.auth:
                        auths.append(("contact", c.handle, c.auth))
                for h in hosts:
                    xf.write(_host(h), "\n")
                for d in domains:
                    xf.write(_domain(d), "\n")
                    if d.auth:
                        auths.append(("domain", d.name, d.auth))
                for kind, name, value in auths:
                    el = _top(AUTH, "auth", attrib={"type": kind, "name": name})
                    _sub(el, AUTH, "hash", value)
                    xf.write(el, "\n")


def _el(ns: str, name: str, text: str) -> Any:
    el = _top(ns, name)
    el.text = text
    return el


_PREFIX = {uri: prefix for prefix, uri in NSMAP.items()}


def _top(ns: str, name: str, *others: str, attrib: dict[str, str] | None = None) -> Any:
    """An element written on its own (``xmlfile.write`` does not inherit the root's
    prefixes): it declares the namespaces it uses."""
    nsmap = {_PREFIX[u]: u for u in (ns, *others)}
    return etree.Element(f"{{{ns}}}{name}", attrib or {}, nsmap=nsmap)


def _sub(parent: Any, ns: str, name: str, text: str | None = None) -> Any:
    el = etree.SubElement(parent, f"{{{ns}}}{name}")
    if text is not None:
        el.text = text
    return el


def _roid(kind: str, key: str) -> str:
    # RFC 5730 2.8 roidType: (\w|_){1,80}-\w{1,8}; derived from the name, stable.
    import hashlib

    return f"{kind}{hashlib.sha256(key.encode()).hexdigest()[:24].upper()}-TLDSEC"


def _registrar(r: DepositRegistrar) -> Any:
    el = _top(REGISTRAR, "registrar")
    _sub(el, REGISTRAR, "id", r.client_id)
    _sub(el, REGISTRAR, "name", r.name)
    _sub(el, REGISTRAR, "status", "ok")
    if r.email:
        _sub(el, REGISTRAR, "email", r.email)
    if r.created_at is not None:
        _sub(el, REGISTRAR, "crDate", _date_text(r.created_at))
    return el


def _common(el: Any, ns: str, obj: Any, statuses: tuple[str, ...]) -> None:
    _sub(el, ns, "clID", obj.registrar)
    if obj.creator:
        _sub(el, ns, "crRr", obj.creator)
    if obj.created_at is not None:
        _sub(el, ns, "crDate", _date_text(obj.created_at))


def _contact(c: DepositContact) -> Any:
    el = _top(CONTACT, "contact", EPP_CONTACT)
    _sub(el, CONTACT, "id", c.handle)
    _sub(el, CONTACT, "roid", _roid("C", c.handle))
    for s in c.statuses or ("ok",):
        _sub(el, CONTACT, "status").set("s", s)
    for p in c.postal:
        info = _sub(el, CONTACT, "postalInfo")
        info.set("type", str(p.get("type", "int")))
        _sub(info, EPP_CONTACT, "name", str(p.get("name", "")))
        if p.get("org") is not None:
            _sub(info, EPP_CONTACT, "org", str(p["org"]))
        addr = _sub(info, EPP_CONTACT, "addr")
        for street in p.get("street", []) or []:  # type: ignore[attr-defined]
            _sub(addr, EPP_CONTACT, "street", str(street))
        _sub(addr, EPP_CONTACT, "city", str(p.get("city", "")))
        for key in ("sp", "pc"):
            if p.get(key) is not None:
                _sub(addr, EPP_CONTACT, key, str(p[key]))
        _sub(addr, EPP_CONTACT, "cc", str(p.get("cc", "")))
    if c.voice:
        _sub(el, CONTACT, "voice", c.voice)
    if c.fax:
        _sub(el, CONTACT, "fax", c.fax)
    _sub(el, CONTACT, "email", c.email)
    _common(el, CONTACT, c, c.statuses)
    _updated(el, CONTACT, c)
    return el


def _updated(el: Any, ns: str, obj: Any) -> None:
    if obj.updater:
        _sub(el, ns, "upRr", obj.updater)
    if obj.updated_at is not None:
        _sub(el, ns, "upDate", _date_text(obj.updated_at))


def _host(h: DepositHost) -> Any:
    el = _top(HOST, "host")
    _sub(el, HOST, "name", h.name)
    _sub(el, HOST, "roid", _roid("H", h.name))
    for s in h.statuses or ("ok",):
        _sub(el, HOST, "status").set("s", s)
    for address, version in h.addresses:
        _sub(el, HOST, "addr", address).set("ip", f"v{version}")
    _common(el, HOST, h, h.statuses)
    _updated(el, HOST, h)
    return el


def _domain(d: DepositDomain) -> Any:
    el = _top(DOMAIN, "domain", EPP_DOMAIN, SECDNS)
    _sub(el, DOMAIN, "name", d.name)
    _sub(el, DOMAIN, "roid", _roid("D", d.name))
    for s in d.statuses or ("ok",):
        _sub(el, DOMAIN, "status").set("s", s)
    if d.registrant:
        _sub(el, DOMAIN, "registrant", d.registrant)
    for kind, handle in d.contacts:
        _sub(el, DOMAIN, "contact", handle).set("type", kind)
    if d.ns:
        ns = _sub(el, DOMAIN, "ns")
        for host in d.ns:
            _sub(ns, EPP_DOMAIN, "hostObj", host)
    _common(el, DOMAIN, d, d.statuses)
    if d.expires_at is not None:
        _sub(el, DOMAIN, "exDate", _date_text(d.expires_at))
    _updated(el, DOMAIN, d)
    if d.ds:
        sec = _sub(el, DOMAIN, "secDNS")
        for ds in d.ds:
            data = _sub(sec, SECDNS, "dsData")
            _sub(data, SECDNS, "keyTag", str(ds.key_tag))
            _sub(data, SECDNS, "alg", str(ds.algorithm))
            _sub(data, SECDNS, "digestType", str(ds.digest_type))
            _sub(data, SECDNS, "digest", ds.digest)
    return el

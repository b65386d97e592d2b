"""EPP XML in and out: a hardened parser, validation against our schemas, response building.

Parsing never resolves entities, never loads a DTD, never touches the network and keeps
lxml's tree-size limits (``huge_tree=False``); a document with a DOCTYPE is refused
outright. Every command is validated against the schemas in ``schemas/`` (written for
tldsec from RFC 5730-5733 and RFC 5910). lxml parsers and schemas are not shared between
threads: each thread that uses a ``Codec`` gets its own.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from tldsec.epp.errors import CommandSyntaxError, EppError, ResultCode
from tldsec.registry.ds_rules import DsData

EPP = "urn:ietf:params:xml:ns:epp-1.0"
EPPCOM = "urn:ietf:params:xml:ns:eppcom-1.0"
DOMAIN = "urn:ietf:params:xml:ns:domain-1.0"
HOST = "urn:ietf:params:xml:ns:host-1.0"
CONTACT = "urn:ietf:params:xml:ns:contact-1.0"
SECDNS = "urn:ietf:params:xml:ns:secDNS-1.1"

OBJECT_NAMESPACES = (DOMAIN, HOST, CONTACT)
EXTENSION_NAMESPACES = (SECDNS,)
PREFIXES = {DOMAIN: "domain", HOST: "host", CONTACT: "contact", SECDNS: "secDNS"}
SCHEMAS = Path(__file__).resolve().parent / "schemas"

Element = etree._Element


def q(ns: str, name: str) -> str:
    """Clark notation: ``{namespace}name``."""
    return f"{{{ns}}}{name}"


def local(element: Element) -> str:
    return etree.QName(element).localname


def children(element: Element) -> list[Element]:
    """Element children only (no comments or processing instructions)."""
    return [c for c in element if isinstance(c.tag, str)]


def text_of(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def sub(parent: Element, ns: str, name: str, text: str | None = None, **attrib: str) -> Element:
    """Append a child element; objects of another namespace declare their prefix."""
    nsmap = {PREFIXES[ns]: ns} if ns in PREFIXES and parent.nsmap.get(PREFIXES[ns]) != ns else None
    child = etree.SubElement(parent, q(ns, name), attrib, nsmap=nsmap)
    if text is not None:
        child.text = text
    return child


def timestamp(when: datetime) -> str:
    """xs:dateTime in UTC with a Z (RFC 5730 2.4 uses this form)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True, slots=True)
class MsgQ:
    """The <msgQ> of a response (RFC 5730 2.6)."""

    count: int
    id: str
    date: datetime | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A response before serialisation: result, optional data, message queue state."""

    code: ResultCode = ResultCode.SUCCESS
    message: str | None = None
    res_data: Element | None = None
    extension: Element | None = None
    msgq: MsgQ | None = None
    ds_values: tuple[tuple[DsData, str], ...] = ()

    @classmethod
    def of_error(cls, error: EppError) -> Reply:
        return cls(code=error.code, message=str(error), ds_values=error.ds_values)


class Codec:
    """Parse, validate and build EPP documents; safe to share, state is per thread."""

    def __init__(self, max_bytes: int = 65536) -> None:
        self.max_bytes = max_bytes
        self._local = threading.local()

    def _parser(self) -> etree.XMLParser:
        parser = getattr(self._local, "parser", None)
        if parser is None:
            parser = etree.XMLParser(
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                dtd_validation=False,
                huge_tree=False,
                remove_blank_text=False,
            )
            self._local.parser = parser
        return parser

    def _schema(self) -> etree.XMLSchema:
        schema = getattr(self._local, "schema", None)
        if schema is None:
            # Loading our own files from the package; imports resolve on disk only.
            schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "all.xsd"), self._parser()))
            self._local.schema = schema
        return schema

    def parse(self, data: bytes) -> Element:
        """The root element of an EPP document, or ``CommandSyntaxError`` saying why not."""
        if len(data) > self.max_bytes:
            raise CommandSyntaxError(f"the XML document is larger than {self.max_bytes} bytes")
        try:
            root = etree.fromstring(data, self._parser())
        except etree.XMLSyntaxError as exc:
            raise CommandSyntaxError(f"not well-formed XML: {_short(str(exc))}") from exc
        info = root.getroottree().docinfo
        if getattr(info, "doctype", "") or info.internalDTD is not None:
            raise CommandSyntaxError("a DOCTYPE is not allowed in EPP (RFC 5730 2.2)")
        return root

    def validate(self, root: Element) -> None:
        """Schema validation; the first error names its line and what was wrong."""
        schema = self._schema()
        if not schema.validate(root):
            errors = list(schema.error_log)  # type: ignore[call-overload]
            error = errors[0] if errors else None
            where = f"line {error.line}: " if error and error.line else ""
            reason = _short(error.message) if error else "invalid"
            raise CommandSyntaxError(f"the command does not validate: {where}{reason}")

    def greeting(self, server_id: str, now: datetime) -> bytes:
        """The <greeting> (RFC 5730 2.4): objects, secDNS-1.1, data collection policy."""
        root = etree.Element(q(EPP, "epp"), nsmap={None: EPP})  # type: ignore[dict-item]
        greeting = sub(root, EPP, "greeting")
        sub(greeting, EPP, "svID", server_id)
        sub(greeting, EPP, "svDate", timestamp(now))
        menu = sub(greeting, EPP, "svcMenu")
        sub(menu, EPP, "version", "1.0")
        sub(menu, EPP, "lang", "en")
        for ns in OBJECT_NAMESPACES:
            sub(menu, EPP, "objURI", ns)
        extensions = sub(menu, EPP, "svcExtension")
        for ns in EXTENSION_NAMESPACES:
            sub(extensions, EPP, "extURI", ns)
        dcp = sub(greeting, EPP, "dcp")
        sub(sub(dcp, EPP, "access"), EPP, "all")
        statement = sub(dcp, EPP, "statement")
        purpose = sub(statement, EPP, "purpose")
        sub(purpose, EPP, "admin")
        sub(purpose, EPP, "prov")
        recipient = sub(statement, EPP, "recipient")
        sub(recipient, EPP, "ours")
        sub(recipient, EPP, "public")
        sub(sub(statement, EPP, "retention"), EPP, "stated")
        return serialize(root)

    def response(self, reply: Reply, cl_trid: str | None, sv_trid: str) -> bytes:
        if (
            reply.message is None
            and reply.res_data is None
            and reply.extension is None
            and reply.msgq is None
            and not reply.ds_values
        ):
            # A bare result (a DS change's 1000, most of what a registry answers): the
            # bytes lxml would write, from a template (tests/epp/test_codec_response.py).
            return _bare_response(reply.code, cl_trid, sv_trid)
        return self._build_response(reply, cl_trid, sv_trid)

    def _build_response(self, reply: Reply, cl_trid: str | None, sv_trid: str) -> bytes:
        root = etree.Element(q(EPP, "epp"), nsmap={None: EPP})  # type: ignore[dict-item]
        response = sub(root, EPP, "response")
        result = sub(response, EPP, "result", code=str(int(reply.code)))
        sub(result, EPP, "msg", reply.message or reply.code.text)
        for ds, reason in reply.ds_values:
            ext_value = sub(result, EPP, "extValue")
            dsdata_element(sub(ext_value, EPP, "value"), ds)
            sub(ext_value, EPP, "reason", reason)
        if reply.msgq is not None:
            msgq = sub(response, EPP, "msgQ", count=str(reply.msgq.count), id=reply.msgq.id)
            if reply.msgq.date is not None:
                sub(msgq, EPP, "qDate", timestamp(reply.msgq.date))
            if reply.msgq.text is not None:
                sub(msgq, EPP, "msg", reply.msgq.text)
        if reply.res_data is not None:
            sub(response, EPP, "resData").append(reply.res_data)
        if reply.extension is not None:
            sub(response, EPP, "extension").append(reply.extension)
        tr_id = sub(response, EPP, "trID")
        if cl_trid:
            sub(tr_id, EPP, "clTRID", cl_trid)
        sub(tr_id, EPP, "svTRID", sv_trid)
        return serialize(root)


@functools.cache
def _bare_template(code: ResultCode, with_cl_trid: bool) -> tuple[bytes, bytes, bytes]:
    """lxml's serialisation of a bare ``code`` response, cut where the clTRID and the
    svTRID go: (before clTRID, between, after svTRID). Built once per code and form."""
    root = etree.Element(q(EPP, "epp"), nsmap={None: EPP})  # type: ignore[dict-item]
    response = sub(root, EPP, "response")
    result = sub(response, EPP, "result", code=str(int(code)))
    sub(result, EPP, "msg", code.text)
    tr_id = sub(response, EPP, "trID")
    cl = sub(tr_id, EPP, "clTRID", "") if with_cl_trid else None
    sv = sub(tr_id, EPP, "svTRID", "")
    # Marker elements where the texts go; cut out of the serialised bytes.
    if cl is not None:
        cl.append(etree.Element("cl-mark"))
    sv.append(etree.Element("sv-mark"))
    whole = serialize(root)
    head, _, rest = whole.partition(b"<cl-mark/>") if cl is not None else (b"", b"", whole)
    middle, _, tail = rest.partition(b"<sv-mark/>")
    return head, middle, tail


def _escape(text: str) -> bytes:
    """Element text as lxml writes it (UTF-8; &, < and > escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


def _bare_response(code: ResultCode, cl_trid: str | None, sv_trid: str) -> bytes:
    head, middle, tail = _bare_template(code, bool(cl_trid))
    if cl_trid:
        return b"".join((head, _escape(cl_trid), middle, _escape(sv_trid), tail))
    return b"".join((middle, _escape(sv_trid), tail))


def new_element(ns: str, name: str) -> Element:
    """A detached element of an object namespace, for resData or extension content."""
    return etree.Element(q(ns, name), nsmap={PREFIXES[ns]: ns})


def dsdata_element(parent: Element, ds: DsData) -> Element:
    data = sub(parent, SECDNS, "dsData")
    sub(data, SECDNS, "keyTag", str(ds.key_tag))
    sub(data, SECDNS, "alg", str(ds.algorithm))
    sub(data, SECDNS, "digestType", str(ds.digest_type))
    sub(data, SECDNS, "digest", ds.digest)
    return data


def serialize(root: Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=False)


def _short(message: str, limit: int = 300) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."

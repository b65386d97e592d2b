"""A small blocking EPP client over TLS (RFC 5734 framing), for tests and benchmarks.

It speaks raw frames (``send_raw``, ``read_response``) so tests can send anything,
and has helpers for the commands tests and benchmarks use. Not a registrar toolkit.
"""

from __future__ import annotations

import itertools
import socket
import ssl
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from tldsec.epp.framing import HEADER, encode
from tldsec.epp.xml.codec import CONTACT, DOMAIN, EPP, HOST, SECDNS, Element, q
from tldsec.registry.ds_rules import DsData

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
OBJECTS = (DOMAIN, HOST, CONTACT)


@dataclass(frozen=True, slots=True)
class Response:
    """A parsed server response."""

    raw: bytes
    root: Element

    @property
    def code(self) -> int:
        result = self.root.find(f"{q(EPP, 'response')}/{q(EPP, 'result')}")
        return int(result.get("code", "0")) if result is not None else 0

    @property
    def message(self) -> str:
        return self.root.findtext(f"{q(EPP, 'response')}/{q(EPP, 'result')}/{q(EPP, 'msg')}") or ""

    @property
    def is_greeting(self) -> bool:
        return self.root.find(q(EPP, "greeting")) is not None

    def find(self, path: str, namespaces: dict[str, str] | None = None) -> Element | None:
        return self.root.find(path, namespaces or NS)

    def findall(self, path: str, namespaces: dict[str, str] | None = None) -> list[Element]:
        return self.root.findall(path, namespaces or NS)

    def text(self, path: str) -> str:
        return self.root.findtext(path, namespaces=NS) or ""


NS = {"epp": EPP, "domain": DOMAIN, "host": HOST, "contact": CONTACT, "secDNS": SECDNS}


class EppClient:
    """One EPP session; ``with EppClient(...) as c:`` connects and reads the greeting."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        timeout: float = 30.0,
        source: str | None = None,
    ) -> None:
        """``source``: the local address to connect from (default: the system's choice)."""
        self.host, self.port, self.context, self.timeout = host, port, context, timeout
        self.source = source
        self._sock: ssl.SSLSocket | None = None
        self._ids = itertools.count(1)
        self.greeting: Response | None = None

    def __enter__(self) -> EppClient:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def connect(self) -> Response:
        raw = socket.create_connection(
            (self.host, self.port),
            timeout=self.timeout,
            source_address=(self.source, 0) if self.source else None,
        )
        try:
            self._sock = self.context.wrap_socket(raw, server_hostname=self.host)
        except (OSError, ssl.SSLError):
            raw.close()
            raise
        self.greeting = self.read_response()
        return self.greeting

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # --- raw frames ----------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (a test may send a lying header)."""
        assert self._sock is not None, "not connected"
        self._sock.sendall(data)

    def send_frame(self, xml: bytes) -> None:
        self.send_raw(encode(xml))

    def read_response(self) -> Response:
        header = self._read_exactly(HEADER)
        total = int.from_bytes(header, "big")
        data = self._read_exactly(total - HEADER)
        return Response(data, etree.fromstring(data, _PARSER))

    def request(self, xml: bytes | str) -> Response:
        self.send_frame(xml.encode() if isinstance(xml, str) else xml)
        return self.read_response()

    def _read_exactly(self, n: int) -> bytes:
        assert self._sock is not None, "not connected"
        chunks = []
        while n > 0:
            chunk = self._sock.recv(n)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    # --- commands ------------------------------------------------------------------------

    def command(self, body: str, extension: str = "") -> Response:
        """``<command>BODY<extension>...</extension><clTRID/></command>``."""
        ext = f"<extension>{extension}</extension>" if extension else ""
        return self.request(
            f'<?xml version="1.0" encoding="UTF-8"?><epp xmlns="{EPP}"><command>{body}{ext}'
            f"<clTRID>cl-{next(self._ids)}</clTRID></command></epp>"
        )

    def hello(self) -> Response:
        return self.request(
            f'<?xml version="1.0" encoding="UTF-8"?><epp xmlns="{EPP}"><hello/></epp>'
        )

    def login(
        self,
        client_id: str,
        password: str,
        *,
        new_password: str | None = None,
        objects: tuple[str, ...] = OBJECTS,
        extensions: tuple[str, ...] = (SECDNS,),
    ) -> Response:
        new = f"<newPW>{escape(new_password)}</newPW>" if new_password else ""
        objs = "".join(f"<objURI>{o}</objURI>" for o in objects)
        exts = "".join(f"<extURI>{e}</extURI>" for e in extensions)
        svc_ext = f"<svcExtension>{exts}</svcExtension>" if exts else ""
        return self.command(
            f"<login><clID>{escape(client_id)}</clID><pw>{escape(password)}</pw>{new}"
            f"<options><version>1.0</version><lang>en</lang></options>"
            f"<svcs>{objs}{svc_ext}</svcs></login>"
        )

    def logout(self) -> Response:
        return self.command("<logout/>")

    def domain_info(self, name: str) -> Response:
        return self.command(
            f'<info><domain:info xmlns:domain="{DOMAIN}"><domain:name>{escape(name)}'
            f"</domain:name></domain:info></info>"
        )

    def domain_create(
        self,
        name: str,
        *,
        ns: tuple[str, ...] = (),
        ds: tuple[DsData, ...] = (),
        auth: str = "auth-pw-1",
    ) -> Response:
        hosts = "".join(f"<domain:hostObj>{escape(h)}</domain:hostObj>" for h in ns)
        ns_xml = f"<domain:ns>{hosts}</domain:ns>" if ns else ""
        ext = f'<secDNS:create xmlns:secDNS="{SECDNS}">{ds_xml(ds)}</secDNS:create>' if ds else ""
        return self.command(
            f'<create><domain:create xmlns:domain="{DOMAIN}"><domain:name>{escape(name)}'
            f'</domain:name><domain:period unit="y">1</domain:period>{ns_xml}'
            f"<domain:authInfo><domain:pw>{escape(auth)}</domain:pw></domain:authInfo>"
            f"</domain:create></create>",
            ext,
        )

    def domain_update_ds(
        self,
        name: str,
        *,
        add: tuple[DsData, ...] = (),
        remove: tuple[DsData, ...] = (),
        remove_all: bool = False,
    ) -> Response:
        parts = ""
        if remove_all:
            parts += "<secDNS:rem><secDNS:all>true</secDNS:all></secDNS:rem>"
        elif remove:
            parts += f"<secDNS:rem>{ds_xml(remove)}</secDNS:rem>"
        if add:
            parts += f"<secDNS:add>{ds_xml(add)}</secDNS:add>"
        return self.command(
            f'<update><domain:update xmlns:domain="{DOMAIN}"><domain:name>{escape(name)}'
            f"</domain:name></domain:update></update>",
            f'<secDNS:update xmlns:secDNS="{SECDNS}">{parts}</secDNS:update>',
        )

    def host_create(self, name: str, addresses: tuple[str, ...] = ()) -> Response:
        addrs = "".join(
            f'<host:addr ip="{"v6" if ":" in a else "v4"}">{a}</host:addr>' for a in addresses
        )
        return self.command(
            f'<create><host:create xmlns:host="{HOST}"><host:name>{escape(name)}</host:name>'
            f"{addrs}</host:create></create>"
        )


def ds_xml(records: tuple[DsData, ...]) -> str:
    return "".join(
        f"<secDNS:dsData><secDNS:keyTag>{d.key_tag}</secDNS:keyTag><secDNS:alg>{d.algorithm}"
        f"</secDNS:alg><secDNS:digestType>{d.digest_type}</secDNS:digestType><secDNS:digest>"
        f"{d.digest}</secDNS:digest></secDNS:dsData>"
        for d in records
    )

"""Our EPP schemas (written from RFC 5730-5733, 5910) agree with the reference RFC schemas
on every fixture, and the codec refuses what it must before any schema sees it."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.fixtures.epp import reference_schema
from tldsec.epp.errors import CommandSyntaxError
from tldsec.epp.xml.codec import Codec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "rfc5910"
INVALID = {
    "domain_create_schema_violation.xml",
    "epp_command_unknown.xml",
    "epp_check_unknown_object.xml",
    "domain_info_unknown_extension.xml",
}
UNPARSEABLE = {"epp_command_doctype.xml", "epp_command_not_well_formed.xml"}
VALID = sorted(p.name for p in FIXTURES.glob("*.xml") if p.name not in INVALID | UNPARSEABLE)
REFERENCE = reference_schema()
CODEC = Codec()


@pytest.mark.parametrize("name", VALID)
def test_valid_fixtures_are_valid_for_both_schema_sets(name: str) -> None:
    root = CODEC.parse((FIXTURES / name).read_bytes())
    CODEC.validate(root)
    assert REFERENCE.validate(root), REFERENCE.error_log


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_fixtures_are_invalid_for_both_schema_sets(name: str) -> None:
    root = CODEC.parse((FIXTURES / name).read_bytes())
    with pytest.raises(CommandSyntaxError, match="does not validate"):
        CODEC.validate(root)
    assert not REFERENCE.validate(root)


def test_doctype_is_refused_without_expanding_entities() -> None:
    with pytest.raises(CommandSyntaxError, match="DOCTYPE is not allowed"):
        CODEC.parse((FIXTURES / "epp_command_doctype.xml").read_bytes())


def test_not_well_formed_xml_is_refused_with_the_parser_message() -> None:
    with pytest.raises(CommandSyntaxError, match="not well-formed XML"):
        CODEC.parse((FIXTURES / "epp_command_not_well_formed.xml").read_bytes())


def test_oversize_documents_are_refused_before_parsing() -> None:
    with pytest.raises(CommandSyntaxError, match="larger than 100 bytes"):
        Codec(max_bytes=100).parse(b"<epp/>" + b" " * 200)


@pytest.mark.parametrize("vector", sorted(p.name for p in VECTORS.glob("*.xml")))
def test_rfc5910_fragments_are_valid_in_a_whole_frame(vector: str) -> None:
    fragment = etree.parse(str(VECTORS / vector)).getroot()
    is_create = etree.QName(fragment).localname == "create"
    verb = "create" if is_create else "update"
    body = (
        '<domain:create xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"><domain:name>a.example'
        "</domain:name><domain:authInfo><domain:pw>2fooBAR</domain:pw></domain:authInfo>"
        "</domain:create>"
        if is_create
        else '<domain:update xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"><domain:name>'
        "a.example</domain:name></domain:update>"
    )
    frame = (
        f'<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><{verb}>{body}</{verb}>'
        f"<extension>{etree.tostring(fragment).decode()}</extension></command></epp>"
    ).encode()
    root = CODEC.parse(frame)
    CODEC.validate(root)
    assert REFERENCE.validate(root), REFERENCE.error_log


def test_our_schema_files_carry_no_external_references() -> None:
    schemas = Path(CODEC.parse.__code__.co_filename).parent / "schemas"
    for xsd in schemas.glob("*.xsd"):
        text = xsd.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2001/XMLSchema", "")
        assert 'schemaLocation="http' not in text

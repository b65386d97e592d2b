"""A bare response (a result code and the transaction ids, nothing else) is written from
a template instead of an lxml tree: the bytes must be exactly lxml's."""

from __future__ import annotations

import pytest
from lxml import etree

from tldsec.epp.errors import ResultCode
from tldsec.epp.xml.codec import EPP, Codec, MsgQ, Reply, q
from tldsec.registry.ds_rules import DsData

CL_TRIDS = [
    None,
    "",
    "ABC-12345",
    "a&b<c>d",  # escaped as lxml escapes text
    "quote\"and'apostrophe",  # not escaped in text
    "ünïcödé-tríd",  # UTF-8, not character references
    "]]>-in-text",
]


@pytest.mark.parametrize("code", [ResultCode.SUCCESS, ResultCode.SUCCESS_ENDING_SESSION])
@pytest.mark.parametrize("cl_trid", CL_TRIDS)
def test_a_bare_response_is_the_bytes_lxml_writes(code: ResultCode, cl_trid: str | None) -> None:
    codec = Codec()
    reply = Reply(code=code)
    fast = codec.response(reply, cl_trid, "tldsec-0123456789abcdef")
    assert fast == codec._build_response(reply, cl_trid, "tldsec-0123456789abcdef")
    root = etree.fromstring(fast)
    tr_id = root.find(f"{q(EPP, 'response')}/{q(EPP, 'trID')}")
    assert tr_id is not None
    assert tr_id.findtext(q(EPP, "svTRID")) == "tldsec-0123456789abcdef"
    assert tr_id.findtext(q(EPP, "clTRID")) == (cl_trid or None)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(message="a message of its own"),
        Reply(code=ResultCode.SUCCESS_NO_MESSAGES, msgq=MsgQ(0, "0")),
        Reply(
            code=ResultCode.PARAMETER_VALUE_POLICY_ERROR,
            message="refused",
            ds_values=((DsData.of(1, 13, 2, "AA" * 32), "why"),),
        ),
    ],
)
def test_a_response_with_more_than_its_code_is_built_as_before(reply: Reply) -> None:
    codec = Codec()
    out = codec.response(reply, "ABC-1", "sv-1")
    assert out == codec._build_response(reply, "ABC-1", "sv-1")
    if reply.message is not None:
        assert reply.message.encode() in out

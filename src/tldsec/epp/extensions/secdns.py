"""The secDNS-1.1 extension (RFC 5910) with the DS Data Interface.

This server stores DS records only (DPS 3.3), so:

* Key Data Interface elements (``<secDNS:keyData>`` as a record, or inside
  ``<secDNS:dsData>``) get 2306: RFC 5910 4 prescribes it for a DS-data server.
* ``<secDNS:maxSigLife>`` and ``urgent="true"`` are options the server does not offer:
  2102 (RFC 5910 3.3, 3.2.5 and 4).
* ``<secDNS:all>false</secDNS:all>`` removes nothing and is refused (2306), as a value
  of "true" is the only meaningful one.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from tldsec.epp.errors import ParameterValuePolicyError, UnimplementedExtension, UnimplementedOption
from tldsec.epp.xml.codec import (
    SECDNS,
    Element,
    children,
    dsdata_element,
    local,
    new_element,
    q,
    text_of,
)
from tldsec.registry.ds_rules import DsData

URI = SECDNS


@dataclass(frozen=True, slots=True)
class SecDnsUpdate:
    """What a ``<secDNS:update>`` asks for."""

    remove_all: bool = False
    remove: tuple[DsData, ...] = ()
    add: tuple[DsData, ...] = ()


def find(extensions: tuple[Element, ...], name: str, *, announced: bool) -> Element | None:
    """The ``<secDNS:NAME>`` element of a command; any other extension element is refused."""
    found = None
    for element in extensions:
        if element.tag == q(SECDNS, name) and found is None:
            found = element
        else:
            raise UnimplementedExtension(
                f"<{local(element)}> of {etree.QName(element).namespace} is not an extension "
                f"of this command"
            )
    if found is not None and not announced:
        raise UnimplementedExtension(
            f"the client did not announce {SECDNS} at login (RFC 5730 2.9.1.1)"
        )
    return found


def parse_create(element: Element | None) -> tuple[DsData, ...]:
    """The DS records of a ``<secDNS:create>`` (RFC 5910 5.2.1)."""
    if element is None:
        return ()
    _refuse_max_sig_life(element)
    return _ds_list(element)


def parse_update(element: Element | None) -> SecDnsUpdate:
    """A ``<secDNS:update>`` (RFC 5910 5.2.5): rem (records or all), add, chg."""
    if element is None:
        return SecDnsUpdate()
    if element.get("urgent", "false") in ("true", "1"):
        raise UnimplementedOption("this server does not offer urgent DS updates (RFC 5910 3.3)")
    remove_all = False
    remove: tuple[DsData, ...] = ()
    add: tuple[DsData, ...] = ()
    for part in children(element):
        name = local(part)
        if name == "rem":
            all_element = part.find(q(SECDNS, "all"))
            if all_element is not None:
                if text_of(all_element) not in ("true", "1"):
                    raise ParameterValuePolicyError(
                        "<secDNS:all> removes all DS data only with the value true"
                    )
                remove_all = True
            else:
                remove = _ds_list(part)
        elif name == "add":
            _refuse_max_sig_life(part)
            add = _ds_list(part)
        elif name == "chg":
            _refuse_max_sig_life(part)
    return SecDnsUpdate(remove_all, remove, add)


def info_data(records: tuple[DsData, ...]) -> Element | None:
    """``<secDNS:infData>`` for a domain info response; None when there is no DS."""
    if not records:
        return None
    root = new_element(SECDNS, "infData")
    for ds in records:
        dsdata_element(root, ds)
    return root


def _ds_list(parent: Element) -> tuple[DsData, ...]:
    records = []
    for element in children(parent):
        name = local(element)
        if name == "keyData" or element.find(q(SECDNS, "keyData")) is not None:
            # RFC 5910 4: a DS Data Interface server answers key data with 2306.
            raise ParameterValuePolicyError(
                "this registry uses the DS Data Interface: send <secDNS:dsData> without keyData"
            )
        if name == "dsData":
            records.append(
                DsData.of(
                    int(text_of(element.find(q(SECDNS, "keyTag")))),
                    int(text_of(element.find(q(SECDNS, "alg")))),
                    int(text_of(element.find(q(SECDNS, "digestType")))),
                    text_of(element.find(q(SECDNS, "digest"))),
                )
            )
    return tuple(records)


def _refuse_max_sig_life(parent: Element) -> None:
    if parent.find(q(SECDNS, "maxSigLife")) is not None:
        raise UnimplementedOption(
            "this server does not offer <secDNS:maxSigLife>; the TLD's signature policy "
            "does not depend on the child (RFC 5910 3.3)"
        )

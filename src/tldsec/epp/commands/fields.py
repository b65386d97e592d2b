"""Reading the common fields of object commands (RFC 5731-5733): names, periods,
statuses, contacts, authInfo."""

from __future__ import annotations

from tldsec.epp.errors import ParameterValuePolicyError, RequiredParameterMissing
from tldsec.epp.xml.codec import Element, q, text_of
from tldsec.registry.domains import CONTACT_KINDS


def name(element: Element, ns: str, tag: str = "name") -> str:
    return text_of(element.find(q(ns, tag)))


def names(element: Element, ns: str, tag: str = "name") -> list[str]:
    return [text_of(e) for e in element.findall(q(ns, tag))]


def period_years(parent: Element, ns: str) -> int:
    """``<period unit="y|m">`` in years (RFC 5731 2.5); months must make whole years."""
    period = parent.find(q(ns, "period"))
    if period is None:
        return 1
    value = int(text_of(period))
    if period.get("unit") == "m":
        if value % 12:
            raise ParameterValuePolicyError("registration periods are whole years")
        return value // 12
    return value


def statuses(parent: Element | None, ns: str) -> tuple[str, ...]:
    if parent is None:
        return ()
    return tuple(s.get("s", "") for s in parent.findall(q(ns, "status")))


def contacts(parent: Element | None, ns: str) -> tuple[tuple[str, str], ...]:
    if parent is None:
        return ()
    found = []
    for contact in parent.findall(q(ns, "contact")):
        kind = contact.get("type")
        if kind not in CONTACT_KINDS:
            raise RequiredParameterMissing("a domain contact needs type admin, billing or tech")
        found.append((kind, text_of(contact)))
    return tuple(found)


def auth_info(parent: Element | None, ns: str) -> str | None:
    """The password of ``<authInfo><pw>``; ``<ext>`` authInfo is not offered."""
    if parent is None:
        return None
    info = parent.find(q(ns, "authInfo"))
    if info is None:
        return None
    pw = info.find(q(ns, "pw"))
    if pw is None:
        raise ParameterValuePolicyError("only <pw> authInfo is supported")
    return pw.text or ""

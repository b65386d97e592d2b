"""One parsed EPP command, as the command modules receive it, and what they return."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tldsec.epp.xml.codec import Element, Reply
from tldsec.registry.context import Tx


@dataclass(frozen=True, slots=True)
class Command:
    """A validated command: its verb, its object element and its extension elements."""

    verb: str
    element: Element | None  # <domain:create> etc.; None for <poll>
    extensions: tuple[Element, ...] = ()
    cl_trid: str | None = None
    op: str | None = None  # <transfer op="..."> or <poll op="...">
    msg_id: str | None = None  # <poll msgID="...">
    secdns: bool = False  # the client announced secDNS-1.1 at login

    @property
    def object_element(self) -> Element:
        if self.element is None:
            raise ValueError(f"<{self.verb}> has no object element")
        return self.element


# A command module's entry point: one unit of work, one reply (or an EppError).
Handler = Callable[[Session, Tx, Command], Reply]

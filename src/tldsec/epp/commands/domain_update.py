"""<domain:update> (RFC 5731 3.2.5) with <secDNS:update> (RFC 5910 5.2.5).

The DS lifecycle of DPS 3.3 and 3.5 runs through here: add, remove specific records,
remove all (which removes the chain of trust at the next zone build).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.commands.domain_create import host_objects
from tldsec.epp.extensions import secdns
from tldsec.epp.xml.codec import DOMAIN, Element, Reply, q, text_of
from tldsec.registry.context import Tx
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.ds_update import DsUpdate, update_ds


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    ds = secdns.parse_update(secdns.find(cmd.extensions, "update", announced=cmd.secdns))
    add, rem, chg = (element.find(q(DOMAIN, part)) for part in ("add", "rem", "chg"))
    if add is None and rem is None and chg is None:
        # Only a DS change: the registry's hot path (bench/epp_bench.py measures it).
        only_ds = DsUpdate(
            name=fields.name(element, DOMAIN),
            remove_all=ds.remove_all,
            remove=ds.remove,
            add=ds.add,
        )
        if update_ds(session, tx, only_ds):
            return Reply()
    registrant, auth_info = _changes(chg)
    update_domain(
        session,
        tx,
        DomainUpdate(
            name=fields.name(element, DOMAIN),
            add_ns=host_objects(_ns(add)),
            rem_ns=host_objects(_ns(rem)),
            add_status=fields.statuses(add, DOMAIN),
            rem_status=fields.statuses(rem, DOMAIN),
            add_contacts=fields.contacts(add, DOMAIN),
            rem_contacts=fields.contacts(rem, DOMAIN),
            registrant=registrant,
            auth_info=auth_info,
            ds_rem_all=ds.remove_all,
            ds_rem=ds.remove,
            ds_add=ds.add,
        ),
    )
    return Reply()


def _ns(part: Element | None) -> Element | None:
    return part.find(q(DOMAIN, "ns")) if part is not None else None


def _changes(chg: Element | None) -> tuple[str | None, str | None]:
    if chg is None:
        return None, None
    registrant = chg.find(q(DOMAIN, "registrant"))
    auth = chg.find(q(DOMAIN, "authInfo"))
    auth_info = None
    if auth is not None:
        pw = auth.find(q(DOMAIN, "pw"))
        # <domain:null/> clears the authInfo: a domain always keeps one, so refuse it
        # by setting an empty value the service rejects.
        auth_info = (pw.text or "") if pw is not None else ""
    return (text_of(registrant) if registrant is not None else None), auth_info

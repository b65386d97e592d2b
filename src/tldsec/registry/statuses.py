"""Status values of domains, hosts and contacts (RFC 5731 2.3, RFC 5732 2.3, RFC 5733 2.2).

Only the statuses someone *set* are stored; the rest are derived when read.
"""

from __future__ import annotations

from collections.abc import Iterable

from tldsec.errors import PolicyRefused, StatusProhibits

DOMAIN_CLIENT = frozenset(
    {
        "clientDeleteProhibited",
        "clientHold",
        "clientRenewProhibited",
        "clientTransferProhibited",
        "clientUpdateProhibited",
    }
)
DOMAIN_SERVER = frozenset(
    {
        "serverDeleteProhibited",
        "serverHold",
        "serverRenewProhibited",
        "serverTransferProhibited",
        "serverUpdateProhibited",
    }
)
HOST_CLIENT = frozenset({"clientDeleteProhibited", "clientUpdateProhibited"})
HOST_SERVER = frozenset({"serverDeleteProhibited", "serverUpdateProhibited"})
CONTACT_CLIENT = frozenset(
    {"clientDeleteProhibited", "clientTransferProhibited", "clientUpdateProhibited"}
)
CONTACT_SERVER = frozenset(
    {"serverDeleteProhibited", "serverTransferProhibited", "serverUpdateProhibited"}
)
# DPS 3.5 / RFC 5731 2.3: a domain on hold is not delegated in the zone.
HOLD = frozenset({"clientHold", "serverHold"})


def check_settable(
    statuses: Iterable[str], client: frozenset[str], server: frozenset[str], *, by_registry: bool
) -> None:
    """Refuse statuses the actor may not set: registrars set client*, the registry server*."""
    allowed = server | client if by_registry else client
    for status in statuses:
        if status not in allowed:
            who = "the registry" if by_registry else "a registrar"
            raise PolicyRefused(f"status {status!r} cannot be set or removed by {who}")


def prohibits(stored: Iterable[str], operation: str) -> str | None:
    """The stored status that forbids ``operation`` ("Update", "Delete", ...), if any."""
    names = set(stored)
    for prefix in ("server", "client"):
        status = f"{prefix}{operation}Prohibited"
        if status in names:
            return status
    return None


def check_update_allowed(
    name: str,
    transfer_status: str | None,
    stored: set[str],
    rem_status: Iterable[str],
    *,
    by_registry: bool,
    ds_removal_only: bool = False,
) -> None:
    """Refuse a domain update that the domain's transfer state or statuses forbid.

    ``ds_removal_only``: the update only removes DS records. DPS 3.5.1: the sponsoring
    registrar must carry out a registrant's removal request whatever else is going on,
    so a pending transfer (RFC 5731 2.3 pendingTransfer) does not stop it; the statuses
    still do (a registrar may remove its own clientUpdateProhibited in the same update).
    """
    if transfer_status == "pending" and not ds_removal_only:
        raise StatusProhibits(f"domain {name!r} has a pending transfer")
    if "serverUpdateProhibited" in stored and not by_registry:
        raise StatusProhibits(f"domain {name!r} has status serverUpdateProhibited")
    # RFC 5731 2.3: with clientUpdateProhibited, only the removal of that status is allowed.
    if "clientUpdateProhibited" in stored and "clientUpdateProhibited" not in set(rem_status):
        raise StatusProhibits(f"domain {name!r} has status clientUpdateProhibited")

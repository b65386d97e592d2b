"""``tldsec config``: show and approve the signer's configuration and policy (DPS 4.2.2).

``config show`` prints the SHA-256 of ``tldsec.toml`` and of the policy file (each policy's,
named, where the zones follow several), and the last approved ones; ``config approve
--ceremony ID`` makes the current ones the approved state, under a ``signer.config``
ceremony whose parameters are exactly these two values (``ceremony/signerconfig.py``).
"""

from __future__ import annotations

import argparse
from typing import Any

from tldsec.cli.common import (
    add_home_argument,
    ceremony_gate,
    ceremony_record,
    operator_actor,
    settings_from_args,
)
from tldsec.errors import CeremonyRefused


def register(sub: Any) -> None:
    p = sub.add_parser(
        "config",
        help="show or approve the signer's configuration and policy (DPS 4.2.2)",
        description="Where [ceremony] required names signer.config, a cycle, 'tldsec sign' "
        "and the key steps run only while tldsec.toml and the policy file are the ones a "
        "signer.config ceremony (SA + (SO or WI)) approved.",
    )
    actions = p.add_subparsers(dest="config_action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="the current and the approved hashes")
    add_home_argument(show)
    show.set_defaults(handler=_show)
    approve = actions.add_parser(
        "approve", help="approve the current configuration and policy under a ceremony"
    )
    add_home_argument(approve)
    approve.add_argument(
        "--ceremony",
        metavar="ID",
        required=True,
        help="the signer.config ceremony whose parameters are the current hashes",
    )
    approve.set_defaults(handler=_approve)


def _show(args: argparse.Namespace) -> int:
    from tldsec.audit.config import open_audit_log
    from tldsec.ceremony.signerconfig import current_hashes, last_approved, required
    from tldsec.clock import SystemClock

    settings = settings_from_args(args, databases=("audit",))
    now = current_hashes(settings)
    audit = open_audit_log(settings, SystemClock())
    try:
        approved = last_approved(audit)
    finally:
        audit.close()
    print(f"config_sha256 {now.config_sha256}  ({settings.source})")
    print(f"policy_sha256 {now.policy_sha256}")
    if approved is None:
        print("approved: never")
    elif approved == now:
        print("approved: yes (the last config.approved entry)")
    else:
        print(f"approved: no (last approved config {approved.config_sha256[:12]}..., "
              f"policy {approved.policy_sha256[:12]}...)")  # fmt: skip
    gate = "required" if required(settings) else "not required ([ceremony] required)"
    print(f"approval {gate}; to approve: {now.start_command()}")
    return 0


def _approve(args: argparse.Namespace) -> int:
    from tldsec.audit.config import open_audit_log
    from tldsec.ceremony.policy import SIGNER_CONFIG
    from tldsec.ceremony.signerconfig import current_hashes, record_approval
    from tldsec.clock import SystemClock

    settings = settings_from_args(args, databases=("audit",))
    hashes = current_hashes(settings)
    audit = open_audit_log(settings, SystemClock())
    try:
        # The ceremony's parameters must be exactly the bytes on disk now: a ceremony
        # approved for other files does not fit (ceremony/quorum.py compares them).
        authorised = ceremony_gate(settings, SIGNER_CONFIG, hashes.params(), args.ceremony, audit)
        if authorised is None:  # pass_gate returns None only without a ceremony id
            raise CeremonyRefused(f"{SIGNER_CONFIG} needs a ceremony")
        record_approval(audit, hashes, actor=operator_actor(), ceremony=args.ceremony,
                        via=SIGNER_CONFIG)  # fmt: skip
        ceremony_record(settings, authorised, hashes.params(), audit)
    finally:
        audit.close()
    print(f"approved config_sha256 {hashes.config_sha256}")
    print(f"approved policy_sha256 {hashes.policy_sha256}")
    return 0

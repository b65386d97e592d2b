"""``tldsec policy check [FILE]``: every value of a policy that breaks the DPS it names,
and every pair of values that contradict each other (``policy_check``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tldsec.cli.common import add_home_argument
from tldsec.policy import Policy, load_policy
from tldsec.policy_check import DPS_POLICY_NAME, Finding, check, refusals
from tldsec.settings import CONFIG_NAME, home_from, load_settings

EXIT_REFUSED = 1


def register(sub: Any) -> None:
    group = sub.add_parser("policy", help="the DNSSEC policy: check it against the DPS")
    actions = group.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "check",
        help="list every value that breaks the DPS or contradicts another",
        description="Check a policy file (default: the home's policy, else the built-in "
        "one) against the DPS's numbers (6.1-6.7, 3.5.2, 4.4.3) and against itself. Exit "
        "1 when tldsec would refuse to load it: a policy named 'dps' may not deviate from "
        "the DPS; any policy is refused when two of its values contradict each other.",
    )
    p.add_argument("file", nargs="?", type=Path, help="the policy file to check")
    add_home_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_check)


def _policy(args: argparse.Namespace) -> Policy:
    if args.file is not None:
        return load_policy(args.file, enforce=False)
    home = home_from(args.home)
    if args.home is None and not (home / CONFIG_NAME).exists():
        return load_policy(enforce=False)
    return load_settings(home, enforce_policy=False).policy


def _check(args: argparse.Namespace) -> int:
    policy = _policy(args)
    findings = check(policy)
    refused = refusals(policy)
    if args.json:
        print(json.dumps(report(policy, findings, refused), indent=2))
    else:
        print(text(policy, findings, refused))
    return EXIT_REFUSED if refused else 0


def report(policy: Policy, findings: list[Finding], refused: list[Finding]) -> dict[str, Any]:
    """What ``policy check --json`` prints."""
    return {
        "policy": policy.source,
        "name": policy.name,
        "claims_dps": policy.name == DPS_POLICY_NAME,
        "refused": bool(refused),
        "findings": [
            {
                "field": f.field,
                "value": f.value,
                "wanted": f.wanted,
                "source": f.source,
                "kind": "dps" if f.breaks_dps else "inconsistent",
                "refused": f in refused,
            }
            for f in findings
        ],
    }


def text(policy: Policy, findings: list[Finding], refused: list[Finding]) -> str:
    lines = [f"policy {policy.source} (name = {policy.name!r})"]
    width = max((len(f.source) for f in findings), default=0)
    for f in findings:
        kind = "breaks the DPS" if f.breaks_dps else "inconsistent"
        lines.append(f"  {f.source:<{width}}  {kind:<14}  {f.field} = {f.value}: {f.wanted}")
    deviations = [f for f in findings if f.breaks_dps]
    if refused:
        contradictions = len(refused) - len([f for f in refused if f.breaks_dps])
        reasons = [f"{contradictions} inconsistent value(s)"] if contradictions else []
        if policy.name == DPS_POLICY_NAME and deviations:
            reasons.append(
                f"{len(deviations)} deviation(s) from the DPS, which a policy named 'dps' "
                "may not have"
            )
        lines.append(f"REFUSED: tldsec will not load this policy ({'; '.join(reasons)})")
    elif deviations:
        lines.append(
            f"loads: {len(deviations)} value(s) deviate from the DPS, allowed because the "
            f"policy is named {policy.name!r}, not 'dps' ('tldsec status' shows them)"
        )
    else:
        lines.append("OK: every value is the DPS's and none contradicts another")
    return "\n".join(lines)

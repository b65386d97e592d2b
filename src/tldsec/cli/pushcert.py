"""``tldsec push-cert new|show``: the certificates of the push channel between a signer
and its primaries (decision 49, docs/operations.md "Split deployment")."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tldsec.clock import SystemClock
from tldsec.distribute.pushcert import fingerprint, new_certificate
from tldsec.settings import home_from


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "push-cert",
        help="make the push channel's certificate, print a certificate's fingerprint",
        description="The signer pushes verified zones to its primaries over TLS, each side "
        "pinning the other's self-signed certificate and its SHA-256 fingerprint "
        "([push] in tldsec.toml). Compare fingerprints between sites out of band.",
    )
    verbs = p.add_subparsers(dest="verb", required=True)
    new = verbs.add_parser("new", help="a new key and self-signed certificate")
    new.add_argument("--name", required=True, help="this signer's or primary's name")
    new.add_argument("--home", metavar="DIR", help="tldsec home (default: $TLDSEC_HOME)")
    new.add_argument(
        "-o", "--directory", metavar="DIR", help="where to write NAME.pem and NAME.key "
        "(default: HOME/push)",
    )  # fmt: skip
    new.add_argument("--json", action="store_true", help="print JSON")
    new.set_defaults(handler=_new)
    show = verbs.add_parser("show", help="the SHA-256 fingerprint of a certificate")
    show.add_argument("cert", type=Path, help="a PEM certificate")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_show)


def _new(args: argparse.Namespace) -> int:
    directory = Path(args.directory) if args.directory else home_from(args.home) / "push"
    made = new_certificate(args.name, directory, SystemClock().now())
    fp = fingerprint(made.cert)
    if args.json:
        print(json.dumps({"cert": str(made.cert), "key": str(made.key), "sha256": fp}))
    else:
        print(f"certificate {made.cert}\nkey         {made.key} (0600)\nsha256      {fp}")
    return 0


def _show(args: argparse.Namespace) -> int:
    fp = fingerprint(args.cert)
    print(json.dumps({"cert": str(args.cert), "sha256": fp}) if args.json else fp)
    return 0

"""The roles ``tldsec serve`` runs (issue 20 item 1, decision 49), alone or together:

* ``registry``: EPP (and the console) against the registry database, the DS advisory
  pass (it asks the registrants' name servers), /health, /metrics;
* ``signer``: builds, signs, verifies; holds the publication lease and pushes each
  verified zone to its primaries; listens on no network socket and asks neither the
  secondaries nor the registrants' name servers (DPS 5.6; what it still reaches out
  to: its databases, its primaries, and the outreach worker's parent DS check and
  SMTP); its metrics go to a file for node_exporter's textfile collector; the HSM
  activation socket is local;
* ``primary``: serves AXFR/IXFR/NOTIFY with TSIG to the secondaries, accepts pushes
  from the pinned signers, asks the secondaries for their SOA serial (the trace's live
  pass, recorded in the registry database), /health, /metrics.

``all`` (the default) is the three in one process, the embedded single-host setup,
where the signer and the primary share the store and nothing is pushed.
"""

from __future__ import annotations

from collections.abc import Iterable

from tldsec.errors import ConfigError

REGISTRY = "registry"
SIGNER = "signer"
PRIMARY = "primary"
ALL_ROLES = frozenset({REGISTRY, SIGNER, PRIMARY})


def parse_roles(values: Iterable[str] | None) -> frozenset[str]:
    """``--role`` values (repeated, or comma lists) as a set; none given: all."""
    roles: set[str] = set()
    for value in values or ():
        for word in value.split(","):
            name = word.strip().lower()
            if name == "all":
                roles |= ALL_ROLES
            elif name in ALL_ROLES:
                roles.add(name)
            else:
                raise ConfigError(
                    f"--role {word!r}: choose all, registry, signer or primary (or a comma list)"
                )
    return frozenset(roles) or ALL_ROLES

"""The step-by-step script of a ceremony, as the root zone KSK ceremonies print theirs:
who does what, which command, and which values are read back aloud. Pure.

Values read back are hex digests and check values, spoken as PGP words
(``ceremony/pgpwords.py``) so that a dropped or swapped word is heard (DPS 5.1.2: "the
SA is responsible for ensuring that the keys that are published are the same as those
that were generated").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tldsec.ceremony.pgpwords import hex_words
from tldsec.ceremony.policy import FOUND, ROSTER_CHANGE, SIGNER_CONFIG, operation_class
from tldsec.ceremony.quorum import Quorum


@dataclass(frozen=True, slots=True)
class Step:
    who: str
    what: str
    read_back: tuple[str, ...] = ()


# The command each operation runs, and the outcome read back after it.
RUNS: Mapping[str, tuple[str, str]] = {
    FOUND: ("tldsec ceremony found --ceremony ID", "the founding roster's SHA-256"),
    ROSTER_CHANGE: ("tldsec ceremony adopt --ceremony ID", "the new roster's SHA-256"),
    "keys.generate": ("tldsec keys generate --role ROLE --ceremony ID", "the new key's tag"),
    "keys.rollover": (
        "tldsec keys rollover --ksk|--zsk --reason TEXT --ceremony ID",
        "the key tags and, for a KSK, the new DS digest (tldsec keys export-ds)",
    ),
    "keys.algorithm-rollover": (
        "tldsec keys algorithm-rollover --to N --reason TEXT --ceremony ID",
        "the new KSK's and ZSK's key tags (tldsec keys plan shows the steps ahead)",
    ),
    "keys.ds-seen": ("tldsec keys ds-seen TAG --ceremony ID", "the key tag confirmed"),
    "keys.go-insecure": (
        "tldsec keys go-insecure [--cancel] --reason TEXT --ceremony ID",
        "the KSK tags whose DS withdrawal was requested (or, with --cancel, the KSK rolled)",
    ),
    "keys.transfer": (
        "tldsec keys transfer import-dnskey FILE --operator NAME | handover [--cancel] "
        "--reason TEXT --ceremony ID",
        "the gaining operator's key tags imported, or the handover (its point of no return)",
    ),
    "cycle.accept-change": (
        "tldsec cycle --accept-change CHANGE --ceremony ID",
        "the serial published and the numbers of the change (tldsec status)",
    ),
    SIGNER_CONFIG: (
        "tldsec config approve --ceremony ID",
        "the approved config_sha256 and policy_sha256 (tldsec config show)",
    ),
    "sign": ("tldsec sign ZONE -o OUT --ceremony ID", "the signed zone's SHA-256 and serial"),
    "backup.smk-create": (
        "tldsec backup smk-create --holder NAME=FILE ... --ceremony ID",
        "the SMK's check value",
    ),
    "backup.smk-install": (
        "tldsec backup smk-install --share FILE --key FILE ... --ceremony ID",
        "the SMK's check value",
    ),
    "backup.keys": (
        "tldsec backup keys --smk CHECK -o ARCHIVE --ceremony ID",
        "the archive's SHA-256",
    ),
    "backup.restore": ("tldsec backup restore ARCHIVE --ceremony ID", "the keys restored"),
    "hsm.activate": ("tldsec hsm activate --ceremony ID", "the token's label"),
    "hsm.deactivate": ("tldsec hsm deactivate --ceremony ID", "the token's label"),
}


def script(
    operation: str,
    quorum: Quorum,
    *,
    ceremony_id: str | None = None,
    statement_sha256: str | None = None,
    outcome: Mapping[str, object] | None = None,
) -> list[Step]:
    """The steps of a ceremony for ``operation``; with a ceremony's values, the values
    to read back filled in."""
    cls = operation_class(operation)
    cid = ceremony_id or "ID"
    run, result = RUNS.get(
        operation, (f"the {operation} command with --ceremony ID", "its outcome")
    )
    start = (
        f"tldsec ceremony start {operation}"
        if operation in (FOUND, ROSTER_CHANGE)
        else f"tldsec ceremony start {operation} --param KEY=VALUE ..."
    )
    if operation == SIGNER_CONFIG:  # the parameters are the hashes 'tldsec config show' prints
        start = (
            f"tldsec ceremony start {operation} --param config_sha256=HASH --param "
            "policy_sha256=HASH (tldsec config show prints them; each participant compares "
            "them with the reviewed files)"
        )
    statement = (
        [f"statement SHA-256: {statement_sha256}", f"  = {hex_words(statement_sha256)}"]
        if statement_sha256
        else ["the ceremony id and the statement SHA-256 (tldsec ceremony show ID)"]
    )
    read_out = []
    for key, value in (outcome or {}).items():
        for item in value if isinstance(value, list) else [value]:
            read_out.append(f"{key}: {item}")
            last = str(item).split()[-1] if str(item).split() else ""
            if len(last) >= 8 and _is_hex(last):  # a digest or check value: as words
                read_out.append(f"  = {hex_words(last)}")
    steps = [
        Step(
            "WI",
            f"opens the ceremony log: {operation} ({cls}: {quorum.describe()}, DPS "
            "4.2.2); checks each participant's identity and role (DPS 4.2.3)",
        ),
        Step("SA", start, tuple(statement)),
        Step(
            quorum.describe(),
            f"each in turn, after the parameters were read back: tldsec ceremony approve {cid}"
            " --person NAME --key CARD",
        ),
        Step("SA", run.replace("ID", cid), tuple(read_out) or (result,)),
        Step(
            "each participant",
            f"after the read-back, signs the record: tldsec ceremony sign {cid} --person NAME "
            "--key CARD (DPS 5.1.1)",
        ),
        Step(
            "WI",
            f"tldsec ceremony show {cid} --verify: every signature and the audit entry; "
            "notes any anomaly and closes the ceremony log",
        ),
    ]
    return steps


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text) and len(text) % 2 == 0


def render(steps: list[Step]) -> str:
    lines = []
    for n, step in enumerate(steps, start=1):
        lines.append(f"{n:2d}. {step.who}: {step.what}")
        lines.extend(f"      read back: {line}" for line in step.read_back)
    return "\n".join(lines)

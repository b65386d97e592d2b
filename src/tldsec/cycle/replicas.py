"""Replica proof for a home: which keys every HSM must hold, the last report on disk,
the gate it puts on new keys, and its audit entries (``hsm/replicas.py`` proves).

Run by every cycle before its key steps (so a key enters the DNSKEY RRset only once
every HSM proved it), by ``tldsec hsm check``, and daily by ``tldsec serve``. The last
report is the zone's ``zones/NAME/replicas.json``; ``tldsec status`` and the health
endpoint show its incidents, and the key planner reads its proven keys (``replica_gate``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tldsec.cycle.state import write_atomic
from tldsec.errors import KeyStoreError
from tldsec.hsm.base import KeyStore
from tldsec.hsm.open import open_keystore
from tldsec.hsm.replicas import PROVEN, ExpectedKey, ReplicaReport, prove
from tldsec.keys.planner import Constraint, Gate
from tldsec.keys.state import KeyRecord, KeyState
from tldsec.settings import PRIMARY, Settings

REPORT_FILE = "replicas.json"
IN_ZONE = (KeyState.PUBLISHED, KeyState.ACTIVE, KeyState.RETIRED)
Recorder = Callable[..., object]


def expected_keys(records: Sequence[KeyRecord], now: datetime) -> list[ExpectedKey]:
    """Every key in the DNSKEY RRset, and every generated key waiting to enter it."""
    out = []
    for k in records:
        state = k.state_at(now)
        if state in IN_ZONE or state is KeyState.GENERATED:
            out.append(ExpectedKey(k.key_id, k.name, k.dnskey_rdata, state in IN_ZONE))
    return out


def report_path(settings: Settings) -> Path:
    """The zone's last report, ``zones/NAME/replicas.json``: the keys proven are the
    zone's (each zone's cycle proves its own keys, decision 57)."""
    return settings.zone_dir / REPORT_FILE


def load_report(settings: Settings) -> ReplicaReport | None:
    try:
        return ReplicaReport.from_json(json.loads(report_path(settings).read_text("utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: nothing counts as proven


def summary(settings: Settings) -> dict[str, Any] | None:
    """The last report as ``tldsec status`` and serve's /health show it (None without
    [[keystore.replica]])."""
    if not settings.keystore.replicas:
        return None
    report = load_report(settings)
    if report is None:
        return {"checked_at": None, "incidents": [], "waiting": [], "hsms": []}
    return {
        "checked_at": report.checked_at.isoformat(),
        "hsms": list(report.hsms),
        "incidents": [p.line() for p in report.incidents],
        "waiting": [p.line() for p in report.waiting],
    }


def replica_gate(settings: Settings) -> Gate:
    """A key enters the zone (and signs) only once the last report proved it on every
    HSM (the planner's gate, beside the backup gate); the wait names each HSM that has
    not, with its verdict (e.g. "replica site2 (missing)")."""
    report = load_report(settings)
    proven = report.proven_everywhere() if report is not None else frozenset()
    proofs = report.proofs if report is not None else ()

    def gate(key: KeyRecord) -> tuple[Constraint, ...]:
        if key.key_id in proven:
            return ()
        lacking = [f"{p.hsm} ({p.verdict})" for p in proofs
                   if p.key_id == key.key_id and p.verdict != PROVEN]  # fmt: skip
        where = ", ".join(lacking) or "not proven yet"
        return (
            Constraint(
                "replicas",
                f"replicas: {key.name} proven on every HSM: {where} (restore it into each "
                "[[keystore.replica]] with tldsec backup restore; 'tldsec hsm check' or the "
                "next cycle proves it)",
                None,
            ),
        )

    return gate


def gates_for(settings: Settings) -> Callable[[], tuple[Gate, ...]] | None:
    """The key manager's introduction gates for this home (None: no replica configured)."""
    if not settings.keystore.replicas:
        return None
    return lambda: (replica_gate(settings),)


@contextlib.contextmanager
def open_hsms(
    settings: Settings, primary: KeyStore | None = None
) -> Iterator[dict[str, KeyStore | KeyStoreError]]:
    """The primary store (given, or opened) and each replica's, or the error that kept
    it closed (a replica that cannot be opened is reported, not fatal); closed after."""
    opened: list[KeyStore] = []
    hsms: dict[str, KeyStore | KeyStoreError] = {}
    try:
        if primary is None:
            primary = open_keystore(settings.keystore_spec())
            opened.append(primary)
        hsms[PRIMARY] = primary
        for replica in settings.keystore.replicas:
            try:
                (spec,) = [s for r, s in settings.replica_specs() if r.name == replica.name]
                store = open_keystore(spec)
            except KeyStoreError as exc:
                hsms[replica.token_name] = exc
                continue
            opened.append(store)
            hsms[replica.token_name] = store
        yield hsms
    finally:
        for store in opened:
            store.close()


def check(
    settings: Settings,
    hsms: dict[str, KeyStore | KeyStoreError],
    records: Sequence[KeyRecord],
    now: datetime,
    record: Recorder | None,
    actor: str,
) -> ReplicaReport:
    """Prove every expected key on every HSM, keep the report, and audit it."""
    report = prove(hsms, expected_keys(records, now), now)
    write_atomic(report_path(settings), json.dumps(report.as_json(), indent=2) + "\n")
    if record is not None:
        if report.incidents:
            record(
                "hsm.replica_mismatch",
                actor=actor,
                incidents=[p.line() for p in report.incidents],
                hsms=list(report.hsms),
            )
        else:
            record(
                "hsm.replica_proven",
                actor=actor,
                hsms=list(report.hsms),
                keys=len({p.key_id for p in report.proofs}),
                waiting=[p.line() for p in report.waiting],
            )
    return report

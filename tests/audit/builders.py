"""Chains built in memory for the verification tests, and the tampering an attacker does."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from tldsec.audit.entry import GENESIS_HASH, Checkpoint, Entry, checkpoint_message, make_entry
from tldsec.audit.signing import Ed25519Signer

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EVENTS = ("key.generated", "access.login", "ds.received", "zone.verified", "signer.run_completed")


def build_chain(
    n: int, *, start_seq: int = 1, prev_hash: str = GENESIS_HASH, salt: str = ""
) -> list[Entry]:
    """``n`` chained entries, one second apart, with varied content."""
    entries: list[Entry] = []
    prev = prev_hash
    for i in range(n):
        seq = start_seq + i
        entry = make_entry(
            seq=seq,
            time=T0 + timedelta(seconds=seq),
            actor="component:signer" if seq % 2 else "registrar:reg-1",
            event=EVENTS[seq % len(EVENTS)],
            level="info",
            details={"n": seq, "note": f"entry {seq}{salt}"},
            prev_hash=prev,
        )
        entries.append(entry)
        prev = entry.hash
    return entries


def sign_checkpoint(
    signer: Ed25519Signer, entry: Entry, start: tuple[int, str] | None = None
) -> Checkpoint:
    when = entry.time + timedelta(milliseconds=5)
    message = checkpoint_message(entry.seq, entry.hash, when, start)
    return Checkpoint(entry.seq, entry.hash, when, signer.key_id, signer.sign(message), start)


def keys_of(*signers: Ed25519Signer) -> dict[str, Any]:
    return {s.key_id: s.public_key() for s in signers}


def with_seq(entry: Entry, seq: int) -> Entry:
    """The entry's row with its sequence number changed in place (hash left alone)."""
    return dataclasses.replace(entry, seq=seq)


def rechain(entries: list[Entry], *, from_index: int = 0) -> list[Entry]:
    """Recompute every hash from ``from_index`` on, as an attacker without the key can."""
    out = list(entries[:from_index])
    prev = out[-1].hash if out else entries[0].prev_hash
    for e in entries[from_index:]:
        new = make_entry(
            seq=e.seq,
            time=e.time,
            actor=e.actor,
            event=e.event,
            level=e.level,
            details=e.details,
            prev_hash=prev,
        )
        out.append(new)
        prev = new.hash
    return out

"""Signing on every core: one worker process per core, each with its own key-store
session (its own PKCS#11 session for an HSM).

Workers are forked after the zone is in memory and read their share of the jobs from
the parent's memory (copy-on-write), so only job index ranges go to them and only
signatures come back. ``_FORK_JOBS`` is the one module-level variable: it exists only
to hand the job list across ``fork`` and is cleared when the pool is done.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import NamedTuple

from tldsec.dnscore.zone import RRset
from tldsec.hsm.base import KeyStore, KeyStoreSpec
from tldsec.signer.rrsig import rrset_wire

CHUNK = 2048  # jobs per round trip to a worker
PARALLEL_MIN_JOBS = 4096  # below this, forking costs more than it saves


class SignJob(NamedTuple):
    """One signature to make: the RRSIG header, the RRset, and the key."""

    header: bytes
    rrset: RRset
    key_id: str


Progress = Callable[[int, int], None]

_FORK_JOBS: Sequence[SignJob] = ()
_WORKER_STORE: KeyStore | None = None


def sign_all(
    jobs: Sequence[SignJob], store: KeyStore, workers: int, progress: Progress | None = None
) -> list[bytes]:
    """Signatures for ``jobs``, in order."""
    if workers <= 1 or len(jobs) < PARALLEL_MIN_JOBS:
        out: list[bytes] = []
        for start in range(0, len(jobs), CHUNK):
            out.extend(_sign_range(store, jobs, start, min(start + CHUNK, len(jobs))))
            if progress:
                progress(len(out), len(jobs))
        return out
    return _sign_parallel(jobs, store.spec, workers, progress)


def _sign_range(store: KeyStore, jobs: Sequence[SignJob], start: int, end: int) -> list[bytes]:
    batch = jobs[start:end]
    by_key: dict[str, list[int]] = {}
    for i, job in enumerate(batch):
        by_key.setdefault(job.key_id, []).append(i)
    out: list[bytes] = [b""] * len(batch)
    for key_id, indexes in by_key.items():
        datas = [batch[i].header + rrset_wire(batch[i].rrset) for i in indexes]
        for i, sig in zip(indexes, store.sign_many(key_id, datas), strict=True):
            out[i] = sig
    return out


def _sign_parallel(
    jobs: Sequence[SignJob], spec: KeyStoreSpec, workers: int, progress: Progress | None
) -> list[bytes]:
    global _FORK_JOBS
    ctx = multiprocessing.get_context("fork")
    ranges = [(s, min(s + CHUNK, len(jobs))) for s in range(0, len(jobs), CHUNK)]
    out: list[bytes] = []
    _FORK_JOBS = jobs
    try:
        with ctx.Pool(workers, initializer=_worker_init, initargs=(spec,)) as pool:
            for sigs in pool.imap(_worker_sign, ranges, chunksize=1):
                out.extend(sigs)
                if progress:
                    progress(len(out), len(jobs))
    finally:
        _FORK_JOBS = ()
    return out


def _worker_init(spec: KeyStoreSpec) -> None:
    global _WORKER_STORE
    from tldsec.hsm.open import open_keystore

    _WORKER_STORE = open_keystore(spec)


def _worker_sign(bounds: tuple[int, int]) -> list[bytes]:
    assert _WORKER_STORE is not None
    return _sign_range(_WORKER_STORE, _FORK_JOBS, *bounds)

"""Signing on every core: one worker process per core, each with its own key-store
session (its own PKCS#11 session for an HSM).

Workers are forked after the zone is in memory and read their share of the jobs from
the parent's memory (copy-on-write): only index ranges go to them, and only finished
RRSIG RDATAs come back, which the parent attaches to their RRsets as they arrive. A job
is an RRset and the index of the key that signs it; the RRSIG header is built where the
signature is made. ``_FORK_JOBS`` is the one module-level variable: it exists only to
hand the job list across ``fork`` and is cleared when the pool is done.

The pool is a ``concurrent.futures.ProcessPoolExecutor``: a worker that dies (killed,
out of memory, a crash in the PKCS#11 module) breaks the pool, every pending result
raises ``BrokenProcessPool`` at once, and the run fails with ``SigningFailed`` instead
of waiting forever for a result that will not come (``multiprocessing.Pool.imap`` does).
A worker that cannot open its key store says why in the error of the first range it is
given.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from tldsec.dnscore import names
from tldsec.dnscore.zone import RRset
from tldsec.errors import SigningFailed
from tldsec.forked import end_with_parent
from tldsec.hsm.base import KeyStore, KeyStoreSpec
from tldsec.signer.rrsig import ValidityWindow, rrset_wire, rrsig_header

CHUNK = 2048  # jobs per round trip to a worker
PARALLEL_MIN_JOBS = 4096  # below this, forking costs more than it saves


@dataclass(frozen=True, slots=True)
class RrsigMaker:
    """One key's duty in this run: everything an RRSIG by it needs besides the RRset."""

    key_id: str
    algorithm: int
    key_tag: int
    signer_name: bytes
    window: ValidityWindow


@dataclass(slots=True)
class SignJobs:
    """RRsets to sign, each with the index of its ``RrsigMaker``."""

    makers: tuple[RrsigMaker, ...]
    rrsets: list[RRset]
    maker_index: array[int]

    @classmethod
    def empty(cls, makers: tuple[RrsigMaker, ...]) -> SignJobs:
        return cls(makers, [], array("H"))

    def add(self, rrset: RRset, maker: int) -> None:
        self.rrsets.append(rrset)
        self.maker_index.append(maker)

    def add_all(self, rrsets: list[RRset], maker: int) -> None:
        """``add`` for each of ``rrsets``, all by the same maker."""
        self.rrsets.extend(rrsets)
        self.maker_index.extend(array("H", (maker,)) * len(rrsets))

    def __len__(self) -> int:
        return len(self.rrsets)


Progress = Callable[[int, int], None]

_FORK_JOBS: SignJobs | None = None
_WORKER_STORE: KeyStore | BaseException | None = None  # per worker: its store, or why not


def sign_all(
    jobs: SignJobs,
    store: KeyStore,
    workers: int,
    progress: Progress | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> int:
    """Make every job's RRSIG and append it to the job's RRset; the number made.

    ``meanwhile`` runs in this process once the workers have started (first, when
    signing here): work that must not change the jobs' RRsets.
    """
    total = len(jobs)
    if workers <= 1 or total < PARALLEL_MIN_JOBS:
        if meanwhile is not None:
            meanwhile()
        for start in range(0, total, CHUNK):
            end = min(start + CHUNK, total)
            _attach(jobs, start, sign_range(store, jobs, start, end))
            if progress:
                progress(end, total)
        return total
    _sign_parallel(jobs, store.spec, workers, progress, meanwhile)
    return total


def _attach(jobs: SignJobs, start: int, rrsigs: Sequence[bytes]) -> None:
    rrsets = jobs.rrsets
    for i, rrsig in enumerate(rrsigs, start):
        rrset = rrsets[i]
        rrset.sigs += (rrsig,)


def sign_range(store: KeyStore, jobs: SignJobs, start: int, end: int) -> list[bytes]:
    """RRSIG RDATAs for jobs[start:end], in order."""
    by_maker: dict[int, list[int]] = {}
    index = jobs.maker_index
    for i in range(start, end):
        by_maker.setdefault(index[i], []).append(i)
    out: list[bytes] = [b""] * (end - start)
    for m, positions in by_maker.items():
        maker = jobs.makers[m]
        window = maker.window
        # Names of one label under the signer's name (delegations, NSEC3 owners) have
        # one label more than it; others are counted (RFC 4034 3.1.3).
        signer = maker.signer_name
        size = len(signer)
        one_more = names.label_count(signer) + 1
        headers = []
        datas = []
        for i in positions:
            rrset = jobs.rrsets[i]
            owner = rrset.owner
            header = rrsig_header(
                rrset,
                maker.algorithm,
                maker.key_tag,
                signer,
                window.inception,
                window.expiration_for(owner, rrset.rtype),
                one_more
                if owner[0] + 1 + size == len(owner)
                and owner.endswith(signer)
                and owner[:2] != b"\x01*"
                else None,
            )
            headers.append(header)
            datas.append(header + rrset_wire(rrset))
        signatures = store.sign_many(maker.key_id, datas)
        for i, header, signature in zip(positions, headers, signatures, strict=True):
            out[i - start] = header + signature
    return out


def _sign_parallel(
    jobs: SignJobs,
    spec: KeyStoreSpec,
    workers: int,
    progress: Progress | None,
    meanwhile: Callable[[], None] | None,
) -> None:
    global _FORK_JOBS
    ctx = multiprocessing.get_context("fork")
    total = len(jobs)
    ranges = [(s, min(s + CHUNK, total)) for s in range(0, total, CHUNK)]
    _FORK_JOBS = jobs
    # Objects that exist now are never collected in the workers: a collection there
    # would write to every object's header and copy the whole heap page by page.
    gc.freeze()
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_worker_init, initargs=(spec, os.getpid())
    )
    try:
        results = pool.map(_worker_sign, ranges)
        if meanwhile is not None:
            meanwhile()
        for (start, end), rrsigs in zip(ranges, results, strict=True):
            _attach(jobs, start, rrsigs)
            if progress:
                progress(end, total)
    except BrokenProcessPool as exc:
        raise SigningFailed(
            f"a signing worker process died ({exc}); the zone was not signed: "
            "look for the kernel's OOM killer or a crash of the PKCS#11 module, then sign again"
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()
        _FORK_JOBS = None


def _worker_init(spec: KeyStoreSpec, parent_pid: int) -> None:
    global _WORKER_STORE
    end_with_parent(parent_pid)
    from tldsec.hsm.open import open_keystore

    try:
        _WORKER_STORE = open_keystore(spec)
    except Exception as exc:  # raised again with the first range (an initializer that
        _WORKER_STORE = exc  # raises breaks the pool and the reason is lost)


def _worker_sign(bounds: tuple[int, int]) -> list[bytes]:
    assert _WORKER_STORE is not None and _FORK_JOBS is not None
    if isinstance(_WORKER_STORE, BaseException):
        raise _WORKER_STORE
    return sign_range(_WORKER_STORE, _FORK_JOBS, *bounds)

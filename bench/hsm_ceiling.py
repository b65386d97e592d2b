"""The HSM's ceiling: how many RSA signatures per second the token gives on all cores.

A bare C_Sign loop, one process per core, each with its own PKCS#11 session, signing
distinct 100-byte messages with one RSA-1024 key (CKM_SHA256_RSA_PKCS). No DNS work at
all: the signer can approach this number but never pass it. For comparison, the
same work with ``cryptography`` (OpenSSL) in one process gives the per-core software rate.

    .venv/bin/python bench/hsm_ceiling.py --seconds 10

``hsm_ceiling(spec, key_id, seconds)`` is importable for the main benchmark.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pkcs11 import KeyType, ObjectClass

from tldsec.hsm import p11lib
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import MECHANISMS, Pkcs11KeyStore
from tldsec.hsm.softhsm import init_softhsm_token
from tldsec.policy import Algorithm

MESSAGE_BYTES = 100
MESSAGES = 1000  # distinct messages, signed round-robin
BATCH = 50  # signatures between two looks at the clock


@dataclass(frozen=True, slots=True)
class WorkerResult:
    signatures: int
    seconds: float
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.signatures / self.seconds


def _messages(count: int = MESSAGES) -> list[bytes]:
    return [secrets.token_bytes(MESSAGE_BYTES) for _ in range(count)]


def _c_sign_worker(spec: KeyStoreSpec, key_id: str, seconds: float, barrier: Any) -> WorkerResult:
    """Open a session of our own (after fork), find the key, then sign until time is up."""
    assert spec.module is not None and spec.token_label and spec.pin is not None
    user = p11lib.open_user_session(spec.module, spec.softhsm2_conf, spec.token_label, spec.pin)
    try:
        key = user.session.get_key(ObjectClass.PRIVATE_KEY, KeyType.RSA, id=bytes.fromhex(key_id))
        sign, mechanism = key.sign, MECHANISMS[Algorithm.RSASHA256]
        messages = _messages()
        barrier.wait()
        done, start, cpu = 0, time.perf_counter(), time.process_time()
        while (elapsed := time.perf_counter() - start) < seconds:
            for i in range(done, done + BATCH):
                sign(messages[i % MESSAGES], mechanism=mechanism)
            done += BATCH
        return WorkerResult(done, elapsed, time.process_time() - cpu)
    finally:
        p11lib.close_user_session(user)


def hsm_ceiling(
    spec: KeyStoreSpec, key_id: str, seconds: float, processes: int | None = None
) -> float:
    """Total signatures/s of bare C_Sign loops, one process (and session) per core."""
    return hsm_ceiling_measured(spec, key_id, seconds, processes)[0]


def hsm_ceiling_measured(
    spec: KeyStoreSpec, key_id: str, seconds: float, processes: int | None = None
) -> tuple[float, float]:
    """(total signatures/s, CPU-seconds per signature) of bare C_Sign loops, one process
    (and session) per core. The CPU cost does not depend on what else the machine runs;
    the rate does."""
    processes = processes or os.cpu_count() or 1
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager, ctx.Pool(processes) as pool:
        barrier = manager.Barrier(processes)  # all sessions open before anyone signs
        results = pool.starmap(_c_sign_worker, [(spec, key_id, seconds, barrier)] * processes)
    cpu = sum(r.cpu_seconds for r in results) / sum(r.signatures for r in results)
    return sum(r.rate for r in results), cpu


def cryptography_rate(seconds: float, bits: int = 1024) -> float:
    """Signatures/s of RSA PKCS#1 v1.5 SHA-256 with ``cryptography`` in this one process."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pad, digest, messages = padding.PKCS1v15(), hashes.SHA256(), _messages()
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for i in range(done, done + BATCH):
            key.sign(messages[i % MESSAGES], pad, digest)
        done += BATCH
    return done / elapsed


def _temporary_token(home: Path) -> tuple[KeyStoreSpec, str]:
    pin = secrets.token_hex(8)
    conf, module = init_softhsm_token(home, "bench", pin, secrets.token_hex(8))
    spec = KeyStoreSpec(
        backend="pkcs11", module=module, token_label="bench", pin=pin, softhsm2_conf=conf
    )
    with Pkcs11KeyStore(spec) as store:
        key = store.generate_key(label="bench-zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    return spec, key.key_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tldsec-hsm-bench-") as tmp:
        spec, key_id = _temporary_token(Path(tmp))
        total = hsm_ceiling(spec, key_id, args.seconds, args.processes)
    software = cryptography_rate(args.seconds)
    print(f"SoftHSM2 C_Sign, RSA-1024 SHA-256, {args.processes} processes: {total:,.0f} sig/s")
    print(f"  per process: {total / args.processes:,.0f} sig/s")
    print(f"cryptography (OpenSSL), RSA-1024 SHA-256, 1 process: {software:,.0f} sig/s per core")
    return 0


if __name__ == "__main__":
    sys.exit(main())

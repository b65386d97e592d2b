"""Threads of one process sharing the PKCS#11 library (``hsm/p11lib.py``'s ``calls``).

``tldsec serve`` signs audit entries in one thread while another activates or
deactivates the HSM, which closes every session with C_Finalize + C_Initialize. C_Finalize
in the middle of another thread's call is undefined (PKCS#11 v2.40 5.4): SoftHSM2 crashed
the whole service with SIGSEGV (found in tests/service/test_serve_monitoring.py, where a
refused activation closed the sessions while the audit watch was signing). Each case
runs in a child process, since what fails is the process itself.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tldsec.hsm.softhsm import init_softhsm_token, write_softhsm2_conf

SETUP = """
import sys, threading
from pathlib import Path
from tldsec.errors import TldsecError
from tldsec.hsm import p11lib
conf, module = Path(sys.argv[1]), Path(sys.argv[2])
RESTARTS = 300
done = threading.Event()
failures = []

def closer():
    try:
        for _ in range(RESTARTS):
            p11lib.close_all_sessions(module)  # what a refused activation does
    finally:
        done.set()

def run(sign):
    def loop():
        while not done.is_set():
            try:
                sign()
            except TldsecError as exc:  # a closed session is an error, never a crash
                failures.append(str(exc))
    threads = [threading.Thread(target=loop), threading.Thread(target=loop),
               threading.Thread(target=closer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("survived", len(failures), "errors")
"""

ZONE_KEYS = """
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.policy import Algorithm
spec = KeyStoreSpec(backend="pkcs11", module=module, token_label="threads", pin="1234-user",
                    softhsm2_conf=conf)
store = Pkcs11KeyStore(spec)
key = store.generate_key(label="zsk", algorithm=Algorithm.ECDSAP256SHA256, bits=256)
run(lambda: store.sign(key.key_id, b"an RRset's canonical form"))
"""

AUDIT_KEY = """
from tldsec.audit.pkcs11_signer import Pkcs11AuditSigner
signer = Pkcs11AuditSigner.create(module=module, token_label="threads", pin="1234-user",
                                  softhsm2_conf=conf)
run(lambda: signer.sign(b"an audit checkpoint"))
"""

OPENING_THE_AUDIT_KEY = """
from tldsec.audit.pkcs11_signer import Pkcs11AuditSigner
Pkcs11AuditSigner.create(module=module, token_label="threads", pin="1234-user",
                         softhsm2_conf=conf).close()

def open_and_close():  # what two threads of 'tldsec serve' did at start (the audit log)
    Pkcs11AuditSigner(module=module, token_label="threads", pin="1234-user",
                      softhsm2_conf=conf).close()

run(open_and_close)
"""


def _survives(tmp_path: Path, case: str) -> None:
    home = tmp_path / "softhsm"
    home.mkdir()
    write_softhsm2_conf(home)
    conf, module = init_softhsm_token(home, "threads", "1234-user", "5678-so")
    script = textwrap.dedent(SETUP) + textwrap.dedent(case)
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", script, str(conf), str(module)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    assert "survived" in done.stdout


def test_zone_keys_sign_while_another_thread_closes_every_session(tmp_path: Path) -> None:
    _survives(tmp_path, ZONE_KEYS)


def test_the_audit_key_opens_in_two_threads_while_a_third_closes_every_session(
    tmp_path: Path,
) -> None:
    """python-pkcs11 calls C_Initialize(NULL): the library is told no two threads call
    it at once, so SoftHSM2 takes no lock of its own (PKCS#11 v2.40 5.4)."""
    _survives(tmp_path, OPENING_THE_AUDIT_KEY)


def test_the_audit_key_signs_while_another_thread_closes_every_session(tmp_path: Path) -> None:
    _survives(tmp_path, AUDIT_KEY)

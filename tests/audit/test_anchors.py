"""The anchors themselves: an HTTP witness on loopback, syslog, and the pure comparison."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.audit.builders import build_chain, keys_of, sign_checkpoint
from tldsec.audit.anchors import HttpWitness, SyslogAnchor, compare_with_anchors, witness_for
from tldsec.audit.report import FindingKind
from tldsec.audit.signing import Ed25519Signer
from tldsec.db.base import make_engine
from tldsec.errors import AuditError


@pytest.fixture
def witness() -> Iterator[str]:
    """A minimal witness: keeps what is POSTed, returns it all to a GET (JSON Lines)."""
    kept: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            kept.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def do_GET(self) -> None:
            body = b"".join(kept)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/audit"
    server.shutdown()
    server.server_close()


def test_an_http_witness_keeps_checkpoints_and_gives_them_back(witness: str) -> None:
    signer = Ed25519Signer.generate()
    chain = build_chain(10)
    anchor = witness_for(witness, make_engine)
    assert isinstance(anchor, HttpWitness)
    for e in (chain[4], chain[9]):
        anchor.publish(sign_checkpoint(signer, e))
    assert [cp.seq for cp in anchor.checkpoints()] == [5, 10]
    assert anchor.newest_seq() == 10
    findings = compare_with_anchors(
        [(anchor.name, anchor.checkpoints())],
        keys=keys_of(signer),
        head_seq=6,
        oldest_online=1,
        hash_at=lambda seqs: {e.seq: e.hash for e in chain if e.seq in seqs},
    )
    assert [(f.kind, f.first_seq, f.last_seq) for f in findings] == [(FindingKind.REWOUND, 7, 10)]
    assert f"the witness {witness} holds a checkpoint" in findings[0].detail


def test_an_unreachable_witness_is_an_error_naming_it() -> None:
    anchor = HttpWitness("http://127.0.0.1:9/audit", timeout=1)
    signer = Ed25519Signer.generate()
    with pytest.raises(AuditError, match=r"the witness http://127.0.0.1:9/audit refused"):
        anchor.publish(sign_checkpoint(signer, build_chain(1)[0]))


def test_a_replaced_entry_and_a_forged_anchor_checkpoint_are_named() -> None:
    signer, other = Ed25519Signer.generate(), Ed25519Signer.generate()
    chain = build_chain(8)
    rebuilt = build_chain(8, salt="x")
    forged = sign_checkpoint(other, chain[7])
    findings = compare_with_anchors(
        [("witness", [sign_checkpoint(signer, chain[3]), forged])],
        keys=keys_of(signer),
        head_seq=8,
        oldest_online=1,
        hash_at=lambda seqs: {e.seq: e.hash for e in rebuilt if e.seq in seqs},
    )
    assert {(f.kind, f.first_seq) for f in findings} == {
        (FindingKind.UNTRUSTED_KEY, 8),
        (FindingKind.REPLACED, 4),
    }


def test_syslog_is_write_only() -> None:
    anchor = SyslogAnchor()
    anchor.publish(
        sign_checkpoint(Ed25519Signer.generate(), build_chain(1)[0])
    )  # no error without a daemon
    assert not anchor.readable and anchor.newest_seq() is None
    with pytest.raises(AuditError, match="log collector"):
        anchor.checkpoints()

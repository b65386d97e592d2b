"""The EPP process's registry pool holds a connection per command thread (decision 56).

With SQLAlchemy's default pool (5, overflow 10) the sixth to eighth of the 8 command
threads each opened a PostgreSQL connection when busy and closed it at checkin: a new
backend (a fork and an authentication) for about one transform in 40 at 20 sessions
(bench/epp_bench.py: 22-32 new connections per 1000 transforms). Here every thread is
busy at once, several times over, on the engine ``build_server`` makes: only the first
round connects.
"""

from __future__ import annotations

import threading

from sqlalchemy import event, text

from tldsec.epp.server import ServerLimits
from tldsec.registry.database import RegistryDatabase
from tldsec.service.epp import epp_engine_args


def test_every_command_thread_busy_at_once_opens_no_connection_after_the_first(
    postgres_url: str,
) -> None:
    limits = ServerLimits()
    db = RegistryDatabase.from_url(postgres_url, **epp_engine_args(postgres_url, limits))
    connects: list[object] = []
    event.listen(db.engine, "connect", lambda conn, _record: connects.append(conn))
    all_busy = threading.Barrier(limits.workers)

    def command() -> None:
        with db.write() as session:
            session.execute(text("SELECT 1"))
            all_busy.wait(timeout=30)  # every thread holds its connection now

    try:
        for round_ in range(4):
            threads = [threading.Thread(target=command) for _ in range(limits.workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if round_ == 0:
                assert len(connects) == limits.workers
                connects.clear()
        assert connects == []  # rounds 2-4: every connection came from the pool
    finally:
        db.dispose()


def test_sqlite_keeps_the_engine_defaults() -> None:
    assert epp_engine_args("sqlite:///registry.db", ServerLimits()) == {}

"""The failed-login counter in the registry database (``login_failure``): one counter for
every EPP process and host that serves the registry, so N servers enforce one limit
(issue 18). Logins are not the hot path: each question is one short transaction of its
own, never the login's (a refused login rolls its own transaction back, the failure must
stay counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select

from tldsec.registry.database import RegistryDatabase
from tldsec.registry.models import LoginFailure

KEY_LENGTH = 96


class DbFailures:
    """``epp.login.FailureCounter`` on the registry database."""

    def __init__(self, db: RegistryDatabase) -> None:
        self.db = db

    def most(self, keys: Sequence[str], since: datetime) -> int:
        if not keys:
            return 0
        with self.db.read() as session:
            counts = session.execute(
                select(func.count())
                .select_from(LoginFailure)
                .where(
                    LoginFailure.key.in_([k[:KEY_LENGTH] for k in keys]), LoginFailure.at > since
                )
                .group_by(LoginFailure.key)
            ).scalars()
            return max(counts, default=0)

    def add(self, keys: Sequence[str], at: datetime, forget_before: datetime) -> None:
        with self.db.write() as session:
            # Forgetting everything past the window (every key's, not only these: an
            # address that never fails again leaves nothing behind) keeps the table as
            # small as the failures of one window.
            session.execute(delete(LoginFailure).where(LoginFailure.at <= forget_before))
            session.execute(insert(LoginFailure), [{"key": k[:KEY_LENGTH], "at": at} for k in keys])

    def close(self) -> None:
        self.db.dispose()

    def tracked(self, since: datetime) -> int:
        with self.db.write() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
            return int(session.scalar(select(func.count(func.distinct(LoginFailure.key)))) or 0)

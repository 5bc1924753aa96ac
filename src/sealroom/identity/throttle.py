"""Failed sign-in counting and lockout, per username key (known usernames or not).

A key collects failures in a window of ``window_minutes`` from its first failure; reaching
``max_failures`` locks it for ``lockout_minutes``, during which even correct credentials are refused.
Locking starts a fresh count, so after the lockout the next ``max_failures`` failures lock again.
A success deletes the row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sealroom.config import LoginSettings
from sealroom.db.models import LoginThrottle


@dataclass(frozen=True)
class FailureCount:
    """The state of a key after a failure was counted."""

    failures: int
    locked_until: datetime | None


class LoginThrottler:
    """Reads and updates ``LoginThrottle`` rows inside the caller's transaction."""

    def __init__(self, settings: LoginSettings) -> None:
        self._settings = settings

    def _row(self, db: Session, key: str) -> LoginThrottle | None:
        # FOR UPDATE on PostgreSQL serialises concurrent attempts on one key, so parallel guesses
        # cannot each read the same count and slip past the limit.
        return db.get(LoginThrottle, key, with_for_update=True)

    def retry_after(self, db: Session, key: str, now: datetime) -> int | None:
        """Seconds until ``key`` may try again, or None when it is not locked."""
        row = self._row(db, key)
        if row is None or row.locked_until is None or row.locked_until <= now:
            return None
        return max(1, math.ceil((row.locked_until - now).total_seconds()))

    def record_failure(self, db: Session, key: str, now: datetime) -> FailureCount:
        """Count one failure for ``key``; locks it when the limit is reached in the window."""
        window = timedelta(minutes=self._settings.window_minutes)
        row = self._row(db, key) or self._create_row(db, key, now)
        if now - row.window_start >= window or (row.locked_until is not None and row.locked_until <= now):
            row.failures, row.window_start, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= self._settings.max_failures:
            locked_until = now + timedelta(minutes=self._settings.lockout_minutes)
            count = FailureCount(row.failures, locked_until)
            row.failures, row.window_start, row.locked_until = 0, now, locked_until
            return count
        return FailureCount(row.failures, None)

    def _create_row(self, db: Session, key: str, now: datetime) -> LoginThrottle:
        # Two first failures of one name may race: insert-if-absent, then lock whichever row won,
        # instead of a plain INSERT that would fail the loser with a unique-key error.
        dialect = db.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        db.execute(
            insert(LoginThrottle)
            .values(key=key, failures=0, window_start=now, locked_until=None)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = self._row(db, key)
        assert row is not None
        return row

    def reset(self, db: Session, key: str) -> None:
        """Forget the failures of ``key`` (after a successful sign-in)."""
        row = self._row(db, key)
        if row is not None:
            db.delete(row)

"""The ``forward_cursors`` rows: how far each sink got, how delivery is going, and who feeds it.

Columns stay truthful for everyone who reads them (``sealroom audit forward --status``, the readiness
check, the backlog alert):

* ``last_seq``: the highest ``seq`` the receiver acknowledged, or that the sink's category filter
  skipped; only moves forward, and only by the lease holder.
* ``delivered``: how many records the receiver acknowledged in all (skipped ones not counted).
* ``last_success_at``: when the receiver last acknowledged a batch; ``last_attempt_at``: when a batch
  was last tried.
* ``last_error``, ``consecutive_failures``: the error word of the current run of failures and its
  length; ``NULL``/0 once a batch is acknowledged again.
* ``lease_owner``, ``lease_until``: the forwarder process feeding the sink. The lease is taken by a
  conditional ``UPDATE``, so two processes never feed one sink at once. A holder that crashed is
  replaced when its lease runs out, or at once when it ran on this host and its process is gone.

Changing from healthy to failing records ``forward.sink.down`` and back ``forward.sink.up`` (category
``admin``), in the same transaction as the cursor change; nothing is recorded per batch.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.db.models import Base, ForwardCursor

cursors: Final = Base.metadata.tables[ForwardCursor.__tablename__]
HOST_LIMIT: Final = 40


@dataclass(frozen=True)
class Cursor:
    """One ``forward_cursors`` row, detached from any session."""

    sink: str
    last_seq: int
    delivered: int
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    lease_owner: str | None
    lease_until: datetime | None
    backlog_alerted_at: datetime | None
    """Kept by the backlog alert rule, not by the forwarder."""


def _host() -> str:
    return socket.gethostname()[:HOST_LIMIT] or "host"


def new_owner() -> str:
    """A lease-owner id for one forwarder: ``host:pid:nonce`` (at most 64 characters)."""
    return f"{_host()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_gone(owner: str) -> bool:
    """Whether ``owner`` was a process on this host that no longer exists (its lease can go now)."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _host() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but belongs to someone else
        return False
    return False


def load(db: Session, sink: str) -> Cursor | None:
    """The cursor of ``sink``, or ``None`` if it never ran."""
    row = db.execute(select(cursors).where(cursors.c.sink == sink)).mappings().first()
    return None if row is None else Cursor(**dict(row))


def load_all(db: Session) -> dict[str, Cursor]:
    """Every cursor by sink name."""
    return {row["sink"]: Cursor(**dict(row)) for row in db.execute(select(cursors)).mappings()}


def ensure(sessions: sessionmaker[Session], sink: str) -> Cursor:
    """The cursor of ``sink``, created at ``last_seq`` 0 (the whole log) when it is new."""
    with sessions() as db:
        with db.begin():
            found = load(db, sink)
        if found is not None:
            return found
        with contextlib.suppress(IntegrityError), db.begin():  # another process may create it first
            db.execute(cursors.insert().values(sink=sink, last_seq=0, delivered=0, consecutive_failures=0))
        with db.begin():
            found = load(db, sink)
    assert found is not None
    return found


# Every write below starts with its UPDATE, so the write lock (SQLite) or row lock (PostgreSQL) is
# held before anything is read: a read first could act on a row another writer changes meanwhile.


def take_lease(
    sessions: sessionmaker[Session], sink: str, owner: str, now: datetime, seconds: float
) -> Cursor | None:
    """Take or renew the lease of ``sink`` until ``now + seconds``; the cursor, or ``None`` if another
    live forwarder holds it."""
    until = now + timedelta(seconds=seconds)
    free = or_(
        cursors.c.lease_owner.is_(None),
        cursors.c.lease_owner == owner,
        cursors.c.lease_until.is_(None),
        cursors.c.lease_until < now,
    )
    with sessions() as db:
        with db.begin():
            if _set_lease(db, sink, free, owner, until):
                return load(db, sink)
        with db.begin():
            current = load(db, sink)
        if current is None or current.lease_owner is None or not holder_is_gone(current.lease_owner):
            return None
        with db.begin():  # the holder's process is gone: take over, unless someone else just did
            if _set_lease(db, sink, cursors.c.lease_owner == current.lease_owner, owner, until):
                return load(db, sink)
    return None


def _set_lease(db: Session, sink: str, condition: ColumnElement[bool], owner: str, until: datetime) -> bool:
    result = db.execute(
        update(cursors).where(cursors.c.sink == sink, condition).values(lease_owner=owner, lease_until=until)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release_lease(sessions: sessionmaker[Session], sink: str, owner: str) -> None:
    """Give the lease up (at a clean stop), so another forwarder may take over at once."""
    with sessions() as db, db.begin():
        db.execute(
            update(cursors)
            .where(cursors.c.sink == sink, cursors.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def advance(
    sessions: sessionmaker[Session],
    audit: AuditLog,
    actor: str,
    *,
    sink: str,
    owner: str,
    from_seq: int,
    to_seq: int,
    sent: int,
    now: datetime,
    lease_seconds: float,
) -> bool:
    """Move ``last_seq`` from ``from_seq`` to ``to_seq`` after the receiver acknowledged ``sent``
    records (0: every record in between was skipped by the filter), and extend the lease by
    ``lease_seconds``. False, changing nothing, if the lease was lost or another forwarder moved the
    cursor. Records ``forward.sink.up`` when this ends a run of failures; raises
    ``AuditUnavailableError`` (nothing changed) if that cannot be written."""
    with sessions() as db, db.begin():
        moved = db.execute(
            update(cursors)
            .where(cursors.c.sink == sink, cursors.c.lease_owner == owner, cursors.c.last_seq == from_seq)
            .values(last_seq=to_seq, lease_until=now + timedelta(seconds=lease_seconds))
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return False
        if not sent:
            return True
        before = load(db, sink)
        assert before is not None
        db.execute(
            update(cursors)
            .where(cursors.c.sink == sink)
            .values(
                delivered=cursors.c.delivered + sent,
                last_success_at=now,
                last_attempt_at=now,
                last_error=None,
                consecutive_failures=0,
            )
        )
        if before.consecutive_failures:
            audit.record(
                db, category="admin", action="forward.sink.up", outcome="success", actor=actor,
                details={"sink": sink, "cursor": to_seq, "error": before.last_error,
                         "failures": before.consecutive_failures},
            )  # fmt: skip
    return True


def record_failure(
    sessions: sessionmaker[Session],
    audit: AuditLog,
    actor: str,
    *,
    sink: str,
    owner: str,
    kind: str,
    now: datetime,
) -> int:
    """Note a failed batch (``last_error``, one more ``consecutive_failures``); the new count, or 0 if
    the lease was lost. The first failure of a run records ``forward.sink.down``."""
    kind = kind[:64]
    with sessions() as db, db.begin():
        noted = db.execute(
            update(cursors)
            .where(cursors.c.sink == sink, cursors.c.lease_owner == owner)
            .values(
                last_error=kind,
                consecutive_failures=cursors.c.consecutive_failures + 1,
                last_attempt_at=now,
            )
        )
        if noted.rowcount != 1:  # type: ignore[attr-defined]
            return 0
        after = load(db, sink)
        assert after is not None
        if after.consecutive_failures == 1:
            audit.record(
                db, category="admin", action="forward.sink.down", outcome="failure", actor=actor,
                reason=kind, details={"sink": sink, "cursor": after.last_seq, "error": kind},
            )  # fmt: skip
        return after.consecutive_failures

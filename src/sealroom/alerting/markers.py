"""Markers of background work in ``system_state`` rows, safe when several processes run the same pass.

A marker is one row: ``seq`` (a cursor or version), ``at`` (when the work was last claimed) and a little
JSON ``data``. Work that runs "every N minutes" is *claimed* with one conditional ``UPDATE`` (``at`` is
older than the interval); only the process whose update changed the row does the work, so two ``serve``
processes (or ``serve`` and a cron job) never both do it. A cursor moves with a conditional update on its
old value, in the transaction that records what was done up to it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sealroom.db.models import Base, SystemState

_table = Base.metadata.tables[SystemState.__tablename__]


def get(db: Session, key: str) -> SystemState | None:
    """The marker ``key``, or ``None`` when it was never written."""
    return db.get(SystemState, key)


def ensure(sessions: sessionmaker[Session], key: str, *, seq: int = 0) -> None:
    """Create the marker row when missing (starting at ``seq``); a concurrent creator wins quietly."""
    with sessions() as db:
        if db.get(SystemState, key) is not None:
            return
        db.add(SystemState(key=key, seq=seq, at=None, data={}))
        try:
            db.commit()
        except IntegrityError:
            db.rollback()


def claim_due(sessions: sessionmaker[Session], key: str, now: datetime, interval: timedelta) -> bool:
    """Claim the periodic work ``key`` when it last ran ``interval`` or more before ``now``.

    True for exactly one of any number of concurrent callers; the claim sets ``at`` to ``now``.
    """
    ensure(sessions, key)
    stmt = (
        update(_table)
        .where(_table.c.key == key, or_(_table.c.at.is_(None), _table.c.at <= now - interval))
        .values(at=now)
    )
    with sessions() as db:
        try:
            result = db.execute(stmt)
            db.commit()
        except OperationalError:  # SQLite: another writer held the lock past the busy timeout
            db.rollback()
            return False
    return isinstance(result, CursorResult) and result.rowcount == 1


def move_cursor(db: Session, key: str, old_seq: int, new_seq: int, now: datetime) -> bool:
    """Move the cursor ``key`` from ``old_seq`` to ``new_seq`` in ``db``'s transaction (caller commits).

    False when another process moved it first: the caller must roll back what it prepared.
    """
    stmt = update(_table).where(_table.c.key == key, _table.c.seq == old_seq).values(seq=new_seq, at=now)
    result = db.execute(stmt)
    return isinstance(result, CursorResult) and result.rowcount == 1


def write(sessions: sessionmaker[Session], key: str, data: dict[str, Any], *, seq: int | None = None) -> None:
    """Replace the ``data`` (and optionally ``seq``) of marker ``key``, creating it when missing."""
    ensure(sessions, key)
    values: dict[str, Any] = {"data": data}
    if seq is not None:
        values["seq"] = seq
    with sessions() as db:
        db.execute(update(_table).where(_table.c.key == key).values(**values))
        db.commit()

"""Searching the audit log: who did what, to which image or case, when.

``search(db, AuditQuery(actor="sam", since=...))`` returns plain dicts, oldest first unless
``newest_first``; each dict holds every sealed field plus ``prev_mac`` and ``mac``, with ``ts`` as the
canonical text (``YYYY-MM-DD HH:MM:SS.ffffffZ``, UTC) and ``details`` as an object. Page with ``limit``
and ``offset``, or better with ``after_seq``/``before_seq`` cursors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select
from sqlalchemy.orm import Session

from sealroom.audit import store


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit search; every given filter must match (AND).

    ``action`` matches exactly; ``action_prefix`` matches a family (``"image."``). ``since`` is
    inclusive and ``until`` exclusive (aware datetimes). ``limit=None`` means no limit.
    """

    actor: str | None = None
    image_id: str | None = None
    case_id: str | None = None
    session_id: str | None = None
    category: str | None = None
    action: str | None = None
    action_prefix: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None
    before_seq: int | None = None
    limit: int | None = 100
    offset: int = 0
    newest_first: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        """The SQL conditions of the filters."""
        c = store.events.c
        conds: list[ColumnElement[bool]] = []
        for column, value in (
            (c.actor, self.actor),
            (c.image_id, self.image_id),
            (c.case_id, self.case_id),
            (c.session_id, self.session_id),
            (c.category, self.category),
            (c.action, self.action),
            (c.outcome, self.outcome),
        ):
            if value is not None:
                conds.append(column == value)
        if self.action_prefix:
            conds.append(c.action.startswith(self.action_prefix, autoescape=True))
        for bound in (self.since, self.until):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("audit search times must be timezone-aware")
        if self.since is not None:
            conds.append(c.ts >= self.since)
        if self.until is not None:
            conds.append(c.ts < self.until)
        if self.after_seq is not None:
            conds.append(c.seq > self.after_seq)
        if self.before_seq is not None:
            conds.append(c.seq < self.before_seq)
        return conds


def row_to_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """A sealed row (``store.SEALED_COLUMNS``) as a dict with canonical ``ts`` and parsed ``details``."""
    record = dict(zip(store.SEALED_COLUMNS, row, strict=True))
    record["ts"] = f"{record['ts']}Z"
    record["details"] = json.loads(record["details"]) if record["details"] is not None else None
    return record


def _select(conn: Connection, query: AuditQuery) -> Select[Any]:
    stmt = store.sealed_select(conn.dialect.name)
    for cond in query.conditions():
        stmt = stmt.where(cond)
    seq = store.events.c.seq
    return stmt.order_by(seq.desc() if query.newest_first else seq)


def search(db: Session, query: AuditQuery) -> list[dict[str, Any]]:
    """The records matching ``query`` (at most ``query.limit``) as dicts."""
    conn = db.connection()
    stmt = _select(conn, query)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    if query.offset:
        stmt = stmt.offset(query.offset)
    return [row_to_dict(tuple(row)) for row in conn.execute(stmt)]


def iter_records(db: Session, query: AuditQuery, *, batch_size: int = 5_000) -> Iterator[dict[str, Any]]:
    """Stream every record matching ``query`` (honouring ``limit`` and ``offset``) in keyset pages."""
    conn = db.connection()
    remaining = query.limit
    skip = query.offset
    after, before = query.after_seq, query.before_seq
    while remaining is None or remaining > 0:
        page_query = replace(query, after_seq=after, before_seq=before, limit=None, offset=0)
        size = batch_size if remaining is None else min(batch_size, remaining + skip)
        rows = conn.execute(_select(conn, page_query).limit(size)).all()
        if not rows:
            return
        for row in rows:
            if skip:
                skip -= 1
                continue
            if remaining is not None:
                if remaining == 0:
                    return
                remaining -= 1
            yield row_to_dict(tuple(row))
        if len(rows) < size:
            return
        last = int(rows[-1][0])
        if query.newest_first:
            before = last
        else:
            after = last

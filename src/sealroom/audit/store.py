"""Reading sealed records back exactly as they were sealed.

The verifier and the exporter need each record's fields in the text forms that were sealed: the time
as ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC; the canonical form adds ``Z``) and ``details`` as the stored
canonical JSON text. SQLite already holds exactly those texts; PostgreSQL produces them in SQL
(``to_char`` and ``::text``). So rows arrive as plain strings on every backend and nothing is decoded
and re-encoded in Python.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    Select,
    String,
    Text,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy import type_coerce as _coerce

from sealroom.db.models import AuditEvent, AuditHead, Base

events: Final = Base.metadata.tables[AuditEvent.__tablename__]
head: Final = Base.metadata.tables[AuditHead.__tablename__]

SEALED_COLUMNS: Final = (
    "seq",
    "event_id",
    "ts",
    "category",
    "action",
    "outcome",
    "actor",
    "session_id",
    "image_id",
    "case_id",
    "reason",
    "details",
    "prev_mac",
    "mac",
)
"""The order of the columns ``sealed_select`` returns."""


def _ts_text(dialect: str) -> ColumnElement[Any]:
    col = events.c.ts
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", col), literal("YYYY-MM-DD HH24:MI:SS.US"), type_=String)
    # SQLite holds the text the writer bound: "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
    return _coerce(col, String)


def _details_text(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(events.c.details, Text)
    return _coerce(events.c.details, Text)


def sealed_select(dialect: str, *, as_blobs: bool = False) -> Select[Any]:
    """``SELECT`` of ``SEALED_COLUMNS`` in their sealed text forms (add WHERE/ORDER/LIMIT).

    ``as_blobs`` (SQLite only) returns text columns as bytes, for rows whose text is not valid UTF-8.
    """
    c = events.c
    cols: list[ColumnElement[Any]] = [
        c.seq,
        c.event_id,
        _ts_text(dialect),
        c.category,
        c.action,
        c.outcome,
        c.actor,
        c.session_id,
        c.image_id,
        c.case_id,
        c.reason,
        _details_text(dialect),
        c.prev_mac,
        c.mac,
    ]
    if as_blobs:
        cols = [cols[0], *(cast(col, LargeBinary) for col in cols[1:])]
    return select(*cols)


def _compile(conn: Connection, stmt: Select[Any]) -> str:
    return str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _decode(value: Any) -> Any:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def sealed_batches(
    conn: Connection,
    *,
    after_seq: int,
    until_seq: int | None,
    batch_size: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """Sealed rows with ``after_seq < seq <= until_seq`` in ``seq`` order, as lists of plain tuples.

    Rows are fetched with the connection's DB-API cursor (no per-row SQLAlchemy objects), in keyset
    pages of ``batch_size``. Text that is not valid UTF-8 (only possible by writing to SQLite behind
    the application's back) comes back with surrogate escapes, so it fails its seal instead of
    stopping the scan.
    """
    dialect = conn.dialect.name
    base = sealed_select(dialect)
    seq = events.c.seq
    last = after_seq
    cursor = conn.connection.cursor()
    try:
        while True:
            cond = seq > last if until_seq is None else (seq > last) & (seq <= until_seq)
            page = base.where(cond).order_by(seq).limit(batch_size)
            try:
                cursor.execute(_compile(conn, page))
                rows: list[tuple[Any, ...]] = list(cursor.fetchall())
            except (sqlite3.OperationalError, UnicodeDecodeError):
                if dialect != "sqlite":
                    raise
                blobs = sealed_select(dialect, as_blobs=True).where(cond).order_by(seq).limit(batch_size)
                cursor.execute(_compile(conn, blobs))
                rows = [tuple(_decode(v) for v in row) for row in cursor.fetchall()]
            if not rows:
                return
            yield rows
            if len(rows) < batch_size:
                return
            last = rows[-1][0]
    finally:
        cursor.close()

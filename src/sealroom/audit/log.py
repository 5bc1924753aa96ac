"""Appending to the audit chain, inside the caller's transaction.

``AuditLog.record`` writes one sealed record in the transaction of the ``Session`` it is given, so the
state change it describes and its audit record commit together or not at all. If the record cannot be
written, the caller's transaction is rolled back and ``AuditUnavailableError`` is raised: the action
is refused.

Each append first bumps the chain head (``UPDATE audit_head SET seq = seq + 1 … RETURNING seq, mac``).
That one statement reads the previous MAC and takes the writer lock — the head row lock on PostgreSQL
(held until the caller commits, as ``SELECT … FOR UPDATE`` would) and the database write lock on SQLite
— so writers in any number of processes get gap-free sequence numbers on a single chain. Reading the
head *before* locking it would let two SQLite writers read the same head and collide.

Speed: an append is three statements sent straight through the DB-API cursor of the session's own
connection (same transaction), with no ORM unit of work; other dialects use SQLAlchemy Core.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from sqlalchemy import Connection, Text, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from sealroom.audit.chain import GENESIS_MAC, Sealer, canonical_details, canonical_text, format_ts
from sealroom.audit.events import AuditRecord, Category, Outcome
from sealroom.clock import Clock
from sealroom.db.models import AuditEvent, AuditHead, Base
from sealroom.errors import AuditUnavailableError

REFUSED_MESSAGE: Final = "the audit log could not be written; the action was refused"
HEAD_ID: Final = 1

_events: Final = Base.metadata.tables[AuditEvent.__tablename__]
_head: Final = Base.metadata.tables[AuditHead.__tablename__]
_COLUMNS: Final = (
    "seq, event_id, ts, category, action, outcome, actor, session_id, image_id, case_id, reason, "
    "details, prev_mac, mac"
)
_EVENTS_NAME: Final = AuditEvent.__tablename__
_HEAD_NAME: Final = AuditHead.__tablename__


@dataclass(frozen=True)
class _RawSql:
    bump: str
    insert: str
    set_mac: str


# Only module constants go into these statements; every value is a bound parameter.
_RAW: Final = {
    "sqlite": _RawSql(
        bump=f"UPDATE {_HEAD_NAME} SET seq = seq + 1 WHERE id = {HEAD_ID} RETURNING seq, mac",  # noqa: S608
        insert=f"INSERT INTO {_EVENTS_NAME} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        set_mac=f"UPDATE {_HEAD_NAME} SET mac = ? WHERE id = {HEAD_ID}",  # noqa: S608
    ),
    "postgresql": _RawSql(
        bump=f"UPDATE {_HEAD_NAME} SET seq = seq + 1 WHERE id = {HEAD_ID} RETURNING seq, mac",  # noqa: S608
        insert=(
            f"INSERT INTO {_EVENTS_NAME} ({_COLUMNS}) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::json, %s, %s)"
        ),
        set_mac=f"UPDATE {_HEAD_NAME} SET mac = %s WHERE id = {HEAD_ID}",  # noqa: S608
    ),
}
_RAW_DRIVERS: Final = {"sqlite": "pysqlite", "postgresql": "psycopg"}

# The portable path (any other dialect or driver).
_BUMP_HEAD: Final = (
    update(_head).where(_head.c.id == HEAD_ID).values(seq=_head.c.seq + 1).returning(_head.c.seq, _head.c.mac)
)
_SET_HEAD_MAC: Final = update(_head).where(_head.c.id == HEAD_ID).values(mac=bindparam("new_mac"))
_INSERT_EVENT: Final = insert(_events).values(details=bindparam("details_json", type_=Text))
_INSERT_EVENT_PG: Final = insert(_events).values(
    details=cast(bindparam("details_json", type_=Text), postgresql.JSON)
)


class ChainHead(NamedTuple):
    """The last sequence number and MAC of the chain (what an external anchor records)."""

    seq: int
    mac: str


@dataclass(frozen=True, slots=True)
class SealedEvent:
    """What ``AuditLog.record`` wrote: the fields of the ``AuditEvent`` row, not bound to any session."""

    seq: int
    event_id: str
    ts: datetime
    category: str
    action: str
    outcome: str
    actor: str
    session_id: str | None
    image_id: str | None
    case_id: str | None
    reason: str | None
    details: dict[str, Any]
    prev_mac: str
    mac: str


def chain_head(db: Session) -> ChainHead | None:
    """The current head, or ``None`` if the log was never initialised."""
    row = db.connection().execute(select(_head.c.seq, _head.c.mac).where(_head.c.id == HEAD_ID)).first()
    return None if row is None else ChainHead(int(row[0]), str(row[1]))


def ensure_head(db: Session) -> ChainHead:
    """Create the head row of an empty log (in the caller's transaction; the caller commits).

    Refuses (``AuditUnavailableError``) when records exist but the head is gone: re-creating it would
    fork the chain, so that state needs ``sealroom audit verify`` and a person.
    """
    current = chain_head(db)
    if current is not None:
        return current
    _create_head(db.connection())
    return ChainHead(0, GENESIS_MAC)


def _create_head(conn: Connection) -> None:
    if conn.execute(select(func.count()).select_from(_events)).scalar_one() != 0:
        raise AuditUnavailableError(
            "the audit chain head is missing while records exist; run `sealroom audit verify`",
            reason="audit_head_missing",
        )
    conn.execute(_head.insert().values(id=HEAD_ID, seq=0, mac=GENESIS_MAC))


def _rollback_quietly(db: Session) -> None:
    with contextlib.suppress(Exception):  # the original error is the one the caller must see
        db.rollback()


class AuditLog:
    """Writes sealed records to the chain with the workspace's audit key and clock."""

    def __init__(self, audit_key: bytes, clock: Clock) -> None:
        if len(audit_key) < 16:
            raise ValueError("the audit key is too short")
        self._sealer = Sealer(audit_key)
        self._clock = clock

    def record(
        self,
        db: Session,
        *,
        category: Category | str,
        action: str,
        outcome: Outcome | str,
        actor: str,
        session_id: str | None = None,
        image_id: str | None = None,
        case_id: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> SealedEvent:
        """Append one record inside ``db``'s transaction (the caller commits) and return what was written.

        On any failure — an invalid record included — the transaction of ``db`` is rolled back, so the
        action it carried cannot be committed, and ``AuditUnavailableError`` is raised.
        """
        try:
            entry = AuditRecord(
                category=Category(category),
                action=action,
                outcome=Outcome(outcome),
                actor=actor,
                session_id=session_id,
                image_id=image_id,
                case_id=case_id,
                reason=reason,
                details=details if details is not None else {},
            )
        except ValueError as exc:
            _rollback_quietly(db)
            raise AuditUnavailableError(f"{REFUSED_MESSAGE}: {exc}", reason="audit_record_invalid") from exc
        return self.write(db, entry)

    def write(self, db: Session, entry: AuditRecord) -> SealedEvent:
        """Append a prepared ``AuditRecord`` inside ``db``'s transaction; see ``record``."""
        try:
            return self._write(db.connection(), entry)
        except AuditUnavailableError:
            _rollback_quietly(db)
            raise
        except Exception as exc:
            _rollback_quietly(db)
            raise AuditUnavailableError(REFUSED_MESSAGE) from exc

    def append(self, sessions: Callable[[], Session], **fields: Any) -> SealedEvent:
        """Append one record in a transaction of its own and commit it (e.g. for a denial).

        ``fields`` are the keyword arguments of ``record``.
        """
        try:
            with sessions() as db, db.begin():
                return self.record(db, **fields)
        except AuditUnavailableError:
            raise
        except Exception as exc:
            raise AuditUnavailableError(REFUSED_MESSAGE) from exc

    def _write(self, conn: Connection, entry: AuditRecord) -> SealedEvent:
        ts = self._clock.now().astimezone(UTC)
        ts_text = format_ts(ts)
        store = _RawStore(conn) if _RawStore.supports(conn) else _CoreStore(conn)
        try:
            head = store.bump()
            if head is None:
                _create_head(conn)
                head = store.bump()
            if head is None:  # pragma: no cover - the insert above either worked or raised
                raise AuditUnavailableError(REFUSED_MESSAGE)
            seq, prev_mac = head
            event_id = secrets.token_hex(16)
            category, outcome = entry.category.value, entry.outcome.value
            details_json = canonical_details(entry.details)
            canonical = canonical_text(
                seq, event_id, ts_text, category, entry.action, outcome, entry.actor, entry.session_id,
                entry.image_id, entry.case_id, entry.reason, details_json,
            )  # fmt: skip
            event = SealedEvent(
                seq=seq,
                event_id=event_id,
                ts=ts,
                category=category,
                action=entry.action,
                outcome=outcome,
                actor=entry.actor,
                session_id=entry.session_id,
                image_id=entry.image_id,
                case_id=entry.case_id,
                reason=entry.reason,
                details=dict(entry.details),
                prev_mac=prev_mac,
                mac=self._sealer.seal(prev_mac, canonical),
            )
            store.insert(event, ts_text, details_json)
            store.set_head_mac(event.mac)
        finally:
            store.close()
        return event


class _RawStore:
    """The fast path: pre-written SQL through the DB-API cursor of the session's connection."""

    def __init__(self, conn: Connection) -> None:
        self._sqlite = conn.dialect.name == "sqlite"
        self._sql = _RAW[conn.dialect.name]
        self._cursor = conn.connection.cursor()

    @staticmethod
    def supports(conn: Connection) -> bool:
        return _RAW_DRIVERS.get(conn.dialect.name) == conn.dialect.driver

    def bump(self) -> tuple[int, str] | None:
        self._cursor.execute(self._sql.bump)
        row = self._cursor.fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def insert(self, e: SealedEvent, ts_text: str, details_json: str) -> None:
        # SQLite keeps the time as the text SQLAlchemy binds ("YYYY-MM-DD HH:MM:SS.ffffff", UTC).
        ts: Any = ts_text[:-1] if self._sqlite else e.ts
        self._cursor.execute(
            self._sql.insert,
            (e.seq, e.event_id, ts, e.category, e.action, e.outcome, e.actor, e.session_id, e.image_id,
             e.case_id, e.reason, details_json, e.prev_mac, e.mac),
        )  # fmt: skip

    def set_head_mac(self, mac: str) -> None:
        self._cursor.execute(self._sql.set_mac, (mac,))

    def close(self) -> None:
        self._cursor.close()


class _CoreStore:
    """The portable path: SQLAlchemy Core statements."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def bump(self) -> tuple[int, str] | None:
        row = self._conn.execute(_BUMP_HEAD).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def insert(self, e: SealedEvent, ts_text: str, details_json: str) -> None:
        stmt = _INSERT_EVENT_PG if self._conn.dialect.name == "postgresql" else _INSERT_EVENT
        self._conn.execute(
            stmt,
            {
                "seq": e.seq, "event_id": e.event_id, "ts": e.ts, "category": e.category, "action": e.action,
                "outcome": e.outcome, "actor": e.actor, "session_id": e.session_id, "image_id": e.image_id,
                "case_id": e.case_id, "reason": e.reason, "details_json": details_json,
                "prev_mac": e.prev_mac, "mac": e.mac,
            },
        )  # fmt: skip

    def set_head_mac(self, mac: str) -> None:
        self._conn.execute(_SET_HEAD_MAC, {"new_mac": mac})

    def close(self) -> None:
        pass

"""Fixtures of the audit tests: the chain on a real SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog, SealedEvent
from sealroom.clock import ManualClock
from sealroom.db.engine import create_db_engine, session_factory
from sealroom.db.models import Base

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
START = datetime(2030, 1, 7, 9, 0, 0, tzinfo=UTC)


@dataclass
class Chain:
    """One audit log on one database."""

    engine: Engine
    sessions: sessionmaker[Session]
    log: AuditLog
    key: bytes
    clock: ManualClock

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def add(self, n: int = 1, **fields: Any) -> list[SealedEvent]:
        """Append ``n`` records, one committed transaction each, one second apart."""
        out = []
        for i in range(n):
            values = {
                "category": "image",
                "action": "image.open",
                "outcome": "success",
                "actor": f"user{i % 3}",
                "session_id": "s" * 32,
                "image_id": f"img{i:029d}",
                "case_id": "CASE-1",
                "details": {"pages": i, "engine": "local"},
            } | fields
            with self.sessions() as db, db.begin():
                out.append(self.log.record(db, **values))
            self.clock.advance(seconds=1)
        return out

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run raw SQL as an insider with database access would."""
        with self.engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except Exception as exc:  # the server is optional for unit tests
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc.__class__.__name__}: {exc})")
    name = f"sealroom_test_{secrets.token_hex(6)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _make_chain(url: str) -> Chain:
    engine = create_db_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    clock = ManualClock(START)
    key = secrets.token_bytes(32)
    return Chain(engine, session_factory(engine), AuditLog(key, clock), key, clock)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """An empty audit log on SQLite (file) or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    made = _make_chain(url)
    yield made
    made.engine.dispose()


@pytest.fixture
def sqlite_chain(tmp_path: Path) -> Iterator[Chain]:
    """An empty audit log on a SQLite file."""
    made = _make_chain(f"sqlite:///{tmp_path / 'audit.db'}")
    yield made
    made.engine.dispose()

"""Fixtures shared by the unit tests of the core services: a real SQLite database, a clock, an audit fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from tests.fakes import FakeAudit

from sealroom.clock import ManualClock
from sealroom.db.engine import create_db_engine, session_factory
from sealroom.db.models import Base

# A TOTP step boundary (30 s), so tests know which step "now" is in. Tests get it via ``clock``.
START = datetime(2030, 1, 7, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def db_factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh SQLite file with every table created."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'sealroom.db'}")
    Base.metadata.create_all(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing at ``START`` until moved."""
    return ManualClock(START)


@pytest.fixture
def audit() -> FakeAudit:
    """An in-memory audit sink that records every call."""
    return FakeAudit()

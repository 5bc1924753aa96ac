"""Appending: order, gap-free sequence, one transaction with the caller, refusal when unwritable."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from sealroom.audit.chain import GENESIS_MAC
from sealroom.audit.log import ChainHead, SealedEvent, chain_head, ensure_head
from sealroom.audit.verify import verify_chain
from sealroom.db.models import AuditEvent, LoginThrottle
from sealroom.errors import AuditUnavailableError

from .conftest import START, Chain


def test_records_are_appended_in_order_without_gaps_and_linked(chain: Chain) -> None:
    events = chain.add(5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_mac == GENESIS_MAC
    for before, after in itertools.pairwise(events):
        assert after.prev_mac == before.mac
    with chain.sessions() as db:
        rows = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert [r.mac for r in rows] == [e.mac for e in events]
        assert rows[2].ts == START.replace(second=2)
        assert rows[2].details == {"pages": 2, "engine": "local"}
        assert chain_head(db) == ChainHead(5, events[-1].mac)
        assert verify_chain(db, chain.key).ok


def test_the_first_record_initialises_the_head(chain: Chain) -> None:
    with chain.sessions() as db:
        assert chain_head(db) is None
    chain.add(1)
    with chain.sessions() as db, db.begin():
        assert ensure_head(db).seq == 1


def test_record_commits_with_the_callers_state_change(chain: Chain) -> None:
    with chain.sessions() as db, db.begin():
        db.add(LoginThrottle(key="k1", failures=1, window_start=START))
        event = chain.log.record(
            db, category="authentication", action="login", outcome="failure", actor="sam"
        )
        assert isinstance(event, SealedEvent)
    with chain.sessions() as db:
        assert db.get(LoginThrottle, "k1") is not None
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_a_rolled_back_action_leaves_no_audit_record(chain: Chain) -> None:
    chain.add(1)
    with chain.sessions() as db:
        db.begin()
        chain.log.record(db, category="image", action="image.open", outcome="success", actor="sam")
        db.rollback()
    chain.add(1)
    with chain.sessions() as db:
        assert db.scalars(select(AuditEvent.seq)).all() == [1, 2]
        assert verify_chain(db, chain.key).ok


def test_unwritable_log_refuses_the_action_and_rolls_back_the_state_change(chain: Chain) -> None:
    chain.add(1)
    chain.sql("DROP TABLE audit_events")
    refused = pytest.raises(AuditUnavailableError, match="action was refused")
    with refused as caught, chain.sessions() as db, db.begin():
        db.add(LoginThrottle(key="k2", failures=1, window_start=START))
        db.flush()
        chain.log.record(db, category="authentication", action="login", outcome="failure", actor="sam")
    assert caught.value.http_status == 503
    with chain.sessions() as db:
        assert db.get(LoginThrottle, "k2") is None


def test_a_caller_that_swallows_the_error_still_cannot_commit_the_action(chain: Chain) -> None:
    chain.sql("DROP TABLE audit_events")
    with chain.sessions() as db:
        db.add(LoginThrottle(key="k3", failures=1, window_start=START))
        db.flush()
        with pytest.raises(AuditUnavailableError):
            chain.log.record(db, category="authentication", action="login", outcome="failure", actor="sam")
        db.commit()  # a careless caller
    with chain.sessions() as db:
        assert db.get(LoginThrottle, "k3") is None


def test_bytes_in_details_refuse_the_action(chain: Chain) -> None:
    with pytest.raises(AuditUnavailableError, match="raw bytes"), chain.sessions() as db, db.begin():
        db.add(LoginThrottle(key="k4", failures=1, window_start=START))
        chain.log.record(
            db, category="image", action="image.open", outcome="success", actor="sam",
            details={"thumbnail": b"\xff\xd8\xff"},
        )  # fmt: skip
    with chain.sessions() as db:
        assert db.get(LoginThrottle, "k4") is None
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_append_commits_on_its_own(chain: Chain) -> None:
    event = chain.log.append(
        chain.sessions, category="access", action="access.decision", outcome="deny", actor="sam",
        case_id="CASE-9", reason="no_grant", details={"role": "clinician"},
    )  # fmt: skip
    assert event.seq == 1
    with chain.sessions() as db:
        row = db.get(AuditEvent, 1)
        assert row is not None and row.reason == "no_grant" and row.outcome == "deny"


def test_append_refuses_when_unwritable(chain: Chain) -> None:
    chain.sql("DROP TABLE audit_head")
    with pytest.raises(AuditUnavailableError):
        chain.log.append(
            chain.sessions, category="access", action="access.decision", outcome="deny", actor="x"
        )


def test_a_missing_head_with_records_is_not_silently_recreated(chain: Chain) -> None:
    chain.add(2)
    chain.sql("DELETE FROM audit_head")
    with pytest.raises(AuditUnavailableError, match="head is missing"):
        chain.add(1)
    with chain.sessions() as db, pytest.raises(AuditUnavailableError):
        ensure_head(db)


def test_concurrent_writers_share_one_gap_free_chain(chain: Chain) -> None:
    chain.add(1)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for _ in range(15):
                chain.log.append(
                    chain.sessions, category="session", action="session.open", outcome="success", actor=name
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with chain.sessions() as db:
        assert db.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all() == list(range(1, 62))
        report = verify_chain(db, chain.key)
        assert report.ok and report.checked == 61


def test_timestamps_are_stored_in_utc(chain: Chain) -> None:
    chain.add(1)
    with chain.sessions() as db:
        row = db.get(AuditEvent, 1)
        assert row is not None
        assert row.ts == START and row.ts.tzinfo is not None
        assert row.ts.astimezone(UTC) == datetime(2030, 1, 7, 9, 0, tzinfo=UTC)

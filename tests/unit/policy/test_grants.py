from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sealroom.clock import ManualClock
from sealroom.db.models import Grant, User
from sealroom.errors import (
    AccessDeniedError,
    AuditUnavailableError,
    ConflictError,
    InputError,
    NotFoundError,
)
from sealroom.policy.engine import PolicyEngine
from sealroom.policy.grants import MAX_CASES_PER_CALL, GrantService


def analyse(
    engine: PolicyEngine, user: User, grants: list[Grant], now: datetime, case_id: str = "enc-1"
) -> tuple[bool, str]:
    decision = engine.decide(
        ["clinician"],
        "image:analyze",
        dataset="clinic",
        classification="confidential",
        document_type="clinical",
        case_grants=grants,
        case_id=case_id,
        now=now,
        user_id=user.id,
    )
    return decision.allowed, decision.reason


def test_create_grant_for_a_duration(
    grants: GrantService, add_user: Callable[..., User], clock: ManualClock, audit: Any
) -> None:
    alice = add_user("alice", ["clinician"])
    grant = grants.create_grant(
        "Alice", " enc-1 ", " treating physician ", granted_by="admin", duration=timedelta(hours=8)
    )
    assert (grant.user_id, grant.case_id, grant.purpose) == (alice.id, "enc-1", "treating physician")
    assert grant.created_at == clock.now()
    assert grant.expires_at == clock.now() + timedelta(hours=8)
    assert grant.revoked_at is None and len(grant.id) == 32
    (event,) = audit.events
    assert (event["category"], event["action"], event["outcome"]) == (
        "admin",
        "admin.grant.create",
        "success",
    )
    assert (event["actor"], event["case_id"]) == ("admin", "enc-1")
    assert event["details"] == {
        "grant_id": grant.id,
        "user": "alice",
        "expires_at": grant.expires_at.isoformat(),
        "source": "admin",
        "request_id": None,
    }
    assert grant.source == "admin"


def test_create_grant_until_a_time(
    grants: GrantService, add_user: Callable[..., User], clock: ManualClock
) -> None:
    add_user("alice")
    until = clock.now() + timedelta(days=2)
    assert (
        grants.create_grant("alice", "enc-1", "care", granted_by="admin", expires_at=until).expires_at
        == until
    )


@pytest.mark.parametrize(
    ("case_id", "purpose", "when", "message"),
    [
        ("enc-1", "   ", {"duration": timedelta(hours=1)}, "purpose"),
        ("enc-1", "x" * 513, {"duration": timedelta(hours=1)}, "too long"),
        ("*", "care", {"duration": timedelta(hours=1)}, "wildcard"),
        ("enc-*", "care", {"duration": timedelta(hours=1)}, "wildcard"),
        ("", "care", {"duration": timedelta(hours=1)}, "case id"),
        ("enc 1", "care", {"duration": timedelta(hours=1)}, "case id"),
        ("enc-1", "care", {}, "exactly one"),
        ("enc-1", "care", {"duration": timedelta(hours=1), "expires_at": "future"}, "exactly one"),
        ("enc-1", "care", {"duration": timedelta(0)}, "positive"),
        ("enc-1", "care", {"expires_at": "past"}, "not in the future"),
        ("enc-1", "care", {"expires_at": "now"}, "not in the future"),
        ("enc-1", "care", {"expires_at": "naive"}, "time zone"),
    ],
)
def test_create_grant_refuses_bad_input(
    grants: GrantService,
    add_user: Callable[..., User],
    clock: ManualClock,
    audit: Any,
    case_id: str,
    purpose: str,
    when: dict[str, Any],
    message: str,
) -> None:
    add_user("alice")
    times = {
        "future": clock.now() + timedelta(hours=1),
        "past": clock.now() - timedelta(seconds=1),
        "now": clock.now(),
        "naive": (clock.now() + timedelta(hours=1)).replace(tzinfo=None),
    }
    if "expires_at" in when:
        when = {**when, "expires_at": times[when["expires_at"]]}
    with pytest.raises(InputError, match=message):
        grants.create_grant("alice", case_id, purpose, granted_by="admin", **when)
    assert audit.events == []


def test_create_grant_refuses_unknown_and_disabled_users(
    grants: GrantService, add_user: Callable[..., User]
) -> None:
    add_user("bob", disabled=True)
    with pytest.raises(NotFoundError):
        grants.create_grant("carol", "enc-1", "care", granted_by="admin", duration=timedelta(hours=1))
    with pytest.raises(InputError, match="disabled"):
        grants.create_grant("bob", "enc-1", "care", granted_by="admin", duration=timedelta(hours=1))


def test_max_duration(
    db_factory: sessionmaker[Session], clock: ManualClock, audit: Any, add_user: Callable[..., User]
) -> None:
    add_user("alice")
    capped = GrantService(db_factory, clock, audit, max_duration=timedelta(days=30))
    capped.create_grant("alice", "enc-1", "care", granted_by="admin", duration=timedelta(days=30))
    with pytest.raises(InputError, match="at most 30 days"):
        capped.create_grant("alice", "enc-1", "care", granted_by="admin", duration=timedelta(days=31))


def test_revoke_grant(
    grants: GrantService, add_user: Callable[..., User], clock: ManualClock, audit: Any
) -> None:
    add_user("alice")
    grant = grants.create_grant("alice", "enc-1", "care", granted_by="admin", duration=timedelta(hours=1))
    clock.advance(minutes=5)
    revoked = grants.revoke_grant(grant.id, revoked_by="privacy")
    assert revoked.revoked_at == clock.now()
    event = audit.events[-1]
    assert (event["action"], event["actor"], event["case_id"]) == ("admin.grant.revoke", "privacy", "enc-1")
    assert event["details"]["grant_id"] == grant.id
    with pytest.raises(ConflictError):
        grants.revoke_grant(grant.id, revoked_by="privacy")
    with pytest.raises(NotFoundError):
        grants.revoke_grant("nope", revoked_by="privacy")


def test_list_and_active_grants(
    grants: GrantService, add_user: Callable[..., User], clock: ManualClock
) -> None:
    alice = add_user("alice")
    add_user("bob")
    short = grants.create_grant("alice", "enc-1", "care", granted_by="a", duration=timedelta(hours=1))
    clock.advance(seconds=1)
    long = grants.create_grant("alice", "enc-2", "care", granted_by="a", duration=timedelta(days=1))
    clock.advance(seconds=1)
    gone = grants.create_grant("alice", "enc-3", "care", granted_by="a", duration=timedelta(days=1))
    clock.advance(seconds=1)
    bobs = grants.create_grant("bob", "enc-1", "care", granted_by="a", duration=timedelta(days=1))
    grants.revoke_grant(gone.id, revoked_by="a")

    def ids(found: list[Grant]) -> list[str]:
        return [g.id for g in found]

    assert ids(grants.list_grants()) == [bobs.id, long.id, short.id]
    assert ids(grants.list_grants("alice")) == [long.id, short.id]
    assert ids(grants.list_grants("alice", include_expired=True)) == [gone.id, long.id, short.id]
    assert ids(grants.active_grants(alice.id, "enc-1")) == [short.id]
    assert ids(grants.active_grants(alice.id)) == [long.id, short.id]
    clock.advance(hours=1)
    assert grants.active_grants(alice.id, "enc-1") == []
    assert ids(grants.list_grants("alice")) == [long.id]
    assert ids(grants.active_grants(alice.id, "enc-1", now=clock.now() - timedelta(minutes=1))) == [short.id]
    with pytest.raises(NotFoundError):
        grants.list_grants("carol")


def test_audit_failure_refuses_the_grant(
    grants: GrantService, add_user: Callable[..., User], audit: Any, db_factory: sessionmaker[Session]
) -> None:
    add_user("alice")
    audit.fail = True
    with pytest.raises(AuditUnavailableError):
        grants.create_grant("alice", "enc-1", "care", granted_by="admin", duration=timedelta(hours=1))
    with db_factory() as db:
        assert db.scalars(select(Grant)).all() == []


def test_stored_grants_drive_the_policy(
    grants: GrantService,
    engine: PolicyEngine,
    add_user: Callable[..., User],
    clock: ManualClock,
    db_factory: sessionmaker[Session],
) -> None:
    alice = add_user("alice", ["clinician"])

    def stored() -> list[Grant]:
        with db_factory() as db:
            return list(db.scalars(select(Grant).where(Grant.user_id == alice.id)))

    assert analyse(engine, alice, stored(), clock.now()) == (False, "no_case_grant")
    grant = grants.create_grant("alice", "enc-1", "care", granted_by="admin", duration=timedelta(hours=1))
    assert analyse(engine, alice, stored(), clock.now()) == (True, "allowed")
    clock.advance(hours=1)
    assert analyse(engine, alice, stored(), clock.now()) == (False, "grant_expired")
    grants.create_grant("alice", "enc-1", "care again", granted_by="admin", duration=timedelta(hours=1))
    assert analyse(engine, alice, stored(), clock.now()) == (True, "allowed")
    for g in grants.list_grants("alice"):
        grants.revoke_grant(g.id, revoked_by="admin")
    assert grant.id not in [g.id for g in grants.list_grants("alice")]
    # The first grant ran out on its own, so renewal is the remedy to report.
    assert analyse(engine, alice, stored(), clock.now()) == (False, "grant_expired")
    other = grants.create_grant("alice", "enc-2", "care", granted_by="admin", duration=timedelta(hours=1))
    assert analyse(engine, alice, stored(), clock.now(), "enc-2") == (True, "allowed")
    grants.revoke_grant(other.id, revoked_by="admin")
    assert analyse(engine, alice, stored(), clock.now(), "enc-2") == (False, "grant_revoked")


def test_create_grants_for_a_set_of_cases(
    grants: GrantService,
    add_user: Callable[..., User],
    clock: ManualClock,
    audit: Any,
    db_factory: sessionmaker[Session],
) -> None:
    alice = add_user("alice")
    made = grants.create_grants(
        "alice",
        ["enc-1", " enc-2 ", "enc-3"],
        "ward round",
        granted_by="integration:adt",
        duration=timedelta(hours=4),
        source="integration",
    )
    assert [g.case_id for g in made] == ["enc-1", "enc-2", "enc-3"]
    assert {(g.user_id, g.source, g.granted_by, g.expires_at) for g in made} == {
        (alice.id, "integration", "integration:adt", clock.now() + timedelta(hours=4))
    }
    created = audit.of("admin.grant.create")
    assert [e["case_id"] for e in created] == ["enc-1", "enc-2", "enc-3"]
    assert {(e["actor"], e["details"]["source"]) for e in created} == {("integration:adt", "integration")}
    with db_factory() as db:
        assert len(db.scalars(select(Grant)).all()) == 3


@pytest.mark.parametrize(
    ("case_ids", "message"),
    [
        (["enc-1", "enc 2", "enc-3"], r"case 2 \('enc 2'\): a case id is"),
        (["enc-1", "enc-*"], r"case 2 \('enc-\*'\): wildcard"),
        (["enc-1", "enc-2", "enc-1"], "listed twice"),
        ([], "at least one case"),
        ([f"enc-{n}" for n in range(MAX_CASES_PER_CALL + 1)], "at most 100"),
    ],
)
def test_create_grants_is_all_or_nothing(
    grants: GrantService,
    add_user: Callable[..., User],
    audit: Any,
    db_factory: sessionmaker[Session],
    case_ids: list[str],
    message: str,
) -> None:
    add_user("alice")
    with pytest.raises(InputError, match=message):
        grants.create_grants("alice", case_ids, "care", granted_by="admin", duration=timedelta(hours=1))
    assert audit.events == []
    with db_factory() as db:
        assert db.scalars(select(Grant)).all() == []


def test_an_audit_failure_part_way_leaves_no_grant(
    grants: GrantService, add_user: Callable[..., User], audit: Any, db_factory: sessionmaker[Session]
) -> None:
    add_user("alice")
    real_record = audit.record

    def record_then_fail(db: Session, **kwargs: Any) -> None:
        real_record(db, **kwargs)
        if len(audit.events) == 2:
            audit.fail = True

    audit.record = record_then_fail
    with pytest.raises(AuditUnavailableError):
        grants.create_grants(
            "alice", ["enc-1", "enc-2", "enc-3"], "care", granted_by="admin", duration=timedelta(hours=1)
        )
    with db_factory() as db:
        assert db.scalars(select(Grant)).all() == []


def test_nobody_grants_themselves(grants: GrantService, add_user: Callable[..., User], audit: Any) -> None:
    add_user("alice")
    with pytest.raises(AccessDeniedError, match="yourself"):
        grants.create_grants("Alice", ["enc-1"], "care", granted_by="alice", duration=timedelta(hours=1))
    assert audit.events == []


def test_list_views_by_case_with_status(
    grants: GrantService, add_user: Callable[..., User], clock: ManualClock
) -> None:
    add_user("alice")
    add_user("bob")
    (short,) = grants.create_grants("alice", ["enc-1"], "care", granted_by="a", duration=timedelta(hours=1))
    clock.advance(seconds=1)
    (bobs,) = grants.create_grants("bob", ["enc-1"], "care", granted_by="a", duration=timedelta(days=1))
    clock.advance(seconds=1)
    (other,) = grants.create_grants("bob", ["enc-2"], "care", granted_by="a", duration=timedelta(days=1))
    grants.revoke_grant(other.id, revoked_by="a")
    clock.advance(hours=1)

    def shown(**kwargs: Any) -> list[tuple[str, str, str]]:
        return [(v.grant.id, v.username, v.status) for v in grants.list_views(**kwargs)]

    assert shown(case_id="enc-1") == [(bobs.id, "bob", "active")]
    assert shown(case_id="enc-1", include_expired=True) == [
        (bobs.id, "bob", "active"),
        (short.id, "alice", "expired"),
    ]
    assert shown(username="bob", include_expired=True) == [
        (other.id, "bob", "revoked"),
        (bobs.id, "bob", "active"),
    ]
    assert [g.id for g in grants.list_grants(case_id="enc-2", include_expired=True)] == [other.id]
    assert grants.view(short.id).status == "expired"
    with pytest.raises(NotFoundError):
        grants.view("0" * 32)

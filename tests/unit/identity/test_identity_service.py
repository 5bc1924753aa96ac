from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sealroom.clock import ManualClock
from sealroom.db.models import LoginThrottle, User
from sealroom.errors import (
    AuditUnavailableError,
    AuthenticationError,
    ConflictError,
    InputError,
    MfaRequiredError,
    NotFoundError,
    ThrottledError,
)
from sealroom.identity import totp
from sealroom.identity.passwords import PasswordHashing
from sealroom.identity.service import IdentityService, MfaEnrollment
from sealroom.keys import WorkspaceKeys

PASSWORD = "correct horse 42 battery"
WRONG = "wrong horse 42 battery"


def login_events(audit: Any) -> list[dict[str, Any]]:
    return [e for e in audit.events if e["category"] == "authentication"]


def invalid_code(secret: str, clock: ManualClock) -> str:
    """A well-formed code that matches none of the steps around now."""
    valid = {totp.code_at(secret, clock.now() + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def enrolled(identity: IdentityService, name: str = "alice") -> str:
    identity.add_user(name, PASSWORD, ["clinician"])
    return identity.enroll_mfa(name).secret


# -- administration ------------------------------------------------------------------------------


def test_add_user_stores_an_argon2id_hash_and_audits(identity: IdentityService, audit: Any) -> None:
    user = identity.add_user("  Alice ", PASSWORD, ["clinician"], display_name="Dr Alice")
    assert user.username == "alice"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert len(user.id) == 32
    assert user.roles == ["clinician"]
    assert not user.mfa_enrolled and not user.disabled
    (event,) = audit.of("admin.user.create")
    assert event["category"] == "admin" and event["outcome"] == "success"
    assert event["details"] == {"user": "alice", "roles": ["clinician"]}


def test_duplicate_usernames_conflict_case_insensitively(identity: IdentityService) -> None:
    identity.add_user("alice", PASSWORD, [])
    with pytest.raises(ConflictError):
        identity.add_user("ALICE", PASSWORD, [])


def test_unknown_roles_are_refused(identity: IdentityService) -> None:
    with pytest.raises(InputError, match="unknown roles \\['surgeon'\\]"):
        identity.add_user("alice", PASSWORD, ["clinician", "surgeon"])


@pytest.mark.parametrize("name", ["", "-alice", "al ice", "a" * 129, "alice/../x"])
def test_malformed_usernames_are_refused(identity: IdentityService, name: str) -> None:
    with pytest.raises(InputError, match="username"):
        identity.add_user(name, PASSWORD, [])


def test_weak_passwords_are_refused(identity: IdentityService) -> None:
    with pytest.raises(InputError, match="too short"):
        identity.add_user("alice", "short", [])
    assert identity.list_users() == []


def test_list_get_disable_enable(identity: IdentityService, audit: Any) -> None:
    identity.add_user("bob", PASSWORD, [])
    identity.add_user("alice", PASSWORD, ["auditor"])
    assert [u.username for u in identity.list_users()] == ["alice", "bob"]
    assert identity.disable_user("Bob").disabled
    assert identity.get_user("bob").disabled
    assert not identity.enable_user("bob").disabled
    assert [e["action"] for e in audit.events][-2:] == ["admin.user.disable", "admin.user.enable"]
    with pytest.raises(NotFoundError):
        identity.get_user("carol")


def test_set_password(identity: IdentityService) -> None:
    identity.add_user("alice", PASSWORD, [])
    identity.set_password("alice", "another horse 43 staple", actor="admin")
    with pytest.raises(AuthenticationError):
        identity.authenticate("alice", PASSWORD)
    assert identity.authenticate("alice", "another horse 43 staple").username == "alice"


def test_when_mfa_is_required_then_a_password_alone_never_signs_in(
    make_identity: Callable[..., IdentityService], audit: Any, clock: ManualClock
) -> None:
    identity = make_identity(require_mfa=True)
    identity.add_user("alice", PASSWORD, [])
    with pytest.raises(AuthenticationError, match="no second factor"):
        identity.authenticate("alice", PASSWORD)
    assert audit.events[-1]["reason"] == "mfa_not_enrolled"
    secret = identity.enroll_mfa("alice").secret
    assert identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now())).username == "alice"


def test_audit_failure_refuses_the_change(identity: IdentityService, audit: Any) -> None:
    audit.fail = True
    with pytest.raises(AuditUnavailableError):
        identity.add_user("alice", PASSWORD, [])
    audit.fail = False
    assert identity.list_users() == []


# -- MFA enrolment -------------------------------------------------------------------------------


def test_enroll_mfa_seals_the_seed_and_enrols_at_once(
    identity: IdentityService, keys: WorkspaceKeys, db_factory: sessionmaker[Session]
) -> None:
    identity.add_user("alice", PASSWORD, [])
    enrolment = identity.enroll_mfa("alice")
    assert isinstance(enrolment, MfaEnrollment)
    assert enrolment.secret not in repr(enrolment)
    assert enrolment.provisioning_uri.startswith("otpauth://totp/Sealroom:alice?")
    with db_factory() as db:
        user = db.scalars(select(User)).one()
        assert user.mfa_enrolled
        assert user.totp_secret_enc is not None
        assert enrolment.secret.encode() not in user.totp_secret_enc
        assert totp.unseal_secret(keys, user.id, user.totp_secret_enc) == enrolment.secret


def test_reenrolment_needs_replace_and_rotates_the_seed(
    identity: IdentityService, clock: ManualClock, audit: Any
) -> None:
    old = enrolled(identity)
    with pytest.raises(ConflictError):
        identity.enroll_mfa("alice")
    new = identity.enroll_mfa("alice", replace=True).secret
    assert new != old
    admin_actions = [e["action"] for e in audit.events if e["category"] == "admin"]
    assert admin_actions == ["admin.user.create", "auth.mfa.enroll", "auth.mfa.reset"]
    with pytest.raises(AuthenticationError):
        identity.authenticate("alice", PASSWORD, totp.code_at(old, clock.now()))
    assert identity.authenticate("alice", PASSWORD, totp.code_at(new, clock.now())).username == "alice"


# -- sign-in -------------------------------------------------------------------------------------


def test_login_without_mfa(identity: IdentityService, audit: Any) -> None:
    identity.add_user("alice", PASSWORD, ["clinician"])
    user = identity.authenticate("Alice", PASSWORD)
    assert user.username == "alice"
    (event,) = login_events(audit)
    assert (event["action"], event["outcome"], event["actor"]) == ("auth.login", "success", "alice")


def test_login_with_mfa(identity: IdentityService, clock: ManualClock, audit: Any) -> None:
    secret = enrolled(identity)
    user = identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now()))
    assert user.totp_last_step == totp.current_step(clock.now())
    assert login_events(audit)[-1]["outcome"] == "success"


def test_wrong_password(identity: IdentityService, audit: Any) -> None:
    identity.add_user("alice", PASSWORD, [])
    with pytest.raises(AuthenticationError) as err:
        identity.authenticate("alice", WRONG)
    assert type(err.value) is AuthenticationError
    (event,) = login_events(audit)
    assert (event["outcome"], event["reason"], event["actor"]) == ("failure", "bad_password", "alice")


def test_wrong_password_with_mfa_does_not_reveal_the_code_is_needed(identity: IdentityService) -> None:
    enrolled(identity)
    with pytest.raises(AuthenticationError) as err:
        identity.authenticate("alice", WRONG)
    assert type(err.value) is AuthenticationError


def test_missing_code(identity: IdentityService, audit: Any) -> None:
    enrolled(identity)
    with pytest.raises(MfaRequiredError):
        identity.authenticate("alice", PASSWORD)
    with pytest.raises(MfaRequiredError):
        identity.authenticate("alice", PASSWORD, "")
    assert [e["reason"] for e in login_events(audit)] == ["mfa_missing", "mfa_missing"]


def test_wrong_code(identity: IdentityService, clock: ManualClock, audit: Any) -> None:
    secret = enrolled(identity)
    code = totp.code_at(secret, clock.now() + timedelta(minutes=5))
    with pytest.raises(AuthenticationError) as err:
        identity.authenticate("alice", PASSWORD, code)
    assert type(err.value) is AuthenticationError
    assert "username, password or code" in str(err.value)
    assert login_events(audit)[-1]["reason"] == "bad_totp"


def test_a_code_cannot_be_used_twice(identity: IdentityService, clock: ManualClock, audit: Any) -> None:
    secret = enrolled(identity)
    code = totp.code_at(secret, clock.now())
    identity.authenticate("alice", PASSWORD, code)
    clock.advance(seconds=5)
    with pytest.raises(AuthenticationError):
        identity.authenticate("alice", PASSWORD, code)
    assert login_events(audit)[-1]["reason"] == "totp_replay"


def test_an_older_code_after_a_newer_one_is_refused(
    identity: IdentityService, clock: ManualClock, audit: Any
) -> None:
    secret = enrolled(identity)
    older = totp.code_at(secret, clock.now())
    clock.advance(seconds=30)
    identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now()))
    # ``older`` is still inside the drift window, but its step precedes the one just used.
    with pytest.raises(AuthenticationError):
        identity.authenticate("alice", PASSWORD, older)
    assert login_events(audit)[-1]["reason"] == "totp_replay"
    clock.advance(seconds=30)
    assert identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now())).username == "alice"


def test_disabled_users_are_refused_generically(identity: IdentityService, audit: Any) -> None:
    identity.add_user("alice", PASSWORD, [])
    identity.disable_user("alice")
    with pytest.raises(AuthenticationError) as err:
        identity.authenticate("alice", PASSWORD)
    assert type(err.value) is AuthenticationError
    assert login_events(audit)[-1]["reason"] == "disabled"


def test_unknown_user_is_refused_and_costs_a_hash(
    make_identity: Callable[..., IdentityService], cheap_passwords: PasswordHashing, audit: Any
) -> None:
    class Counting(PasswordHashing):
        verified = 0

        def verify(self, password_hash: str, password: str) -> bool:
            Counting.verified += 1
            return super().verify(password_hash, password)

    identity = make_identity(passwords=Counting(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)))
    with pytest.raises(AuthenticationError) as err:
        identity.authenticate("ghost", PASSWORD)
    assert type(err.value) is AuthenticationError
    assert Counting.verified == 1
    (event,) = login_events(audit)
    assert event["reason"] == "unknown_user"
    assert event["actor"].startswith("unknown:") and len(event["actor"]) == len("unknown:") + 16


def test_secrets_never_reach_the_audit_log(identity: IdentityService, clock: ManualClock, audit: Any) -> None:
    secret = enrolled(identity)
    code = totp.code_at(secret, clock.now())
    identity.authenticate("alice", PASSWORD, code)
    wrong = invalid_code(secret, clock)
    for attempt in [(WRONG, None), (PASSWORD, code), (PASSWORD, wrong)]:
        with pytest.raises(AuthenticationError):
            identity.authenticate("alice", *attempt)
    text = repr(audit.events)
    for value in [PASSWORD, WRONG, code, secret, wrong]:
        assert value not in text


def test_needs_rehash_upgrades_the_stored_hash(
    make_identity: Callable[..., IdentityService], db_factory: sessionmaker[Session]
) -> None:
    make_identity().add_user("alice", PASSWORD, [])
    stronger = PasswordHashing(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    user = make_identity(passwords=stronger).authenticate("alice", PASSWORD)
    assert "m=16,t=2,p=1" in user.password_hash
    with db_factory() as db:
        assert "m=16,t=2,p=1" in db.scalars(select(User.password_hash)).one()


# -- throttling ----------------------------------------------------------------------------------


def fail(identity: IdentityService, name: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationError):
            identity.authenticate(name, WRONG)


def test_lockout_after_max_failures(identity: IdentityService, clock: ManualClock, audit: Any) -> None:
    secret = enrolled(identity)
    fail(identity, "alice", 3)  # max_failures = 3, lockout 10 minutes
    assert (
        login_events(audit)[-1]["details"]["locked_until"]
        == (clock.now() + timedelta(minutes=10)).isoformat()
    )
    clock.advance(minutes=1)
    with pytest.raises(ThrottledError) as err:
        identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now()))
    assert err.value.retry_after == 9 * 60
    event = login_events(audit)[-1]
    assert (event["outcome"], event["reason"], event["actor"]) == ("failure", "throttled", "alice")
    assert event["details"] == {"retry_after": 540}
    clock.advance(minutes=9)
    assert identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now())).username == "alice"


def test_wrong_codes_count_towards_the_lockout(identity: IdentityService, clock: ManualClock) -> None:
    secret = enrolled(identity)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            identity.authenticate("alice", PASSWORD, invalid_code(secret, clock))
    with pytest.raises(ThrottledError):
        identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now()))


def test_missing_codes_do_not_count(identity: IdentityService, clock: ManualClock) -> None:
    secret = enrolled(identity)
    for _ in range(5):
        with pytest.raises(MfaRequiredError):
            identity.authenticate("alice", PASSWORD)
    identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now()))


def test_failures_outside_the_window_do_not_lock(identity: IdentityService, clock: ManualClock) -> None:
    identity.add_user("alice", PASSWORD, [])
    fail(identity, "alice", 2)
    clock.advance(minutes=16)
    fail(identity, "alice", 2)
    assert identity.authenticate("alice", PASSWORD).username == "alice"


def test_success_resets_the_count(identity: IdentityService, db_factory: sessionmaker[Session]) -> None:
    identity.add_user("alice", PASSWORD, [])
    fail(identity, "alice", 2)
    identity.authenticate("alice", PASSWORD)
    with db_factory() as db:
        assert db.scalars(select(LoginThrottle)).all() == []
    fail(identity, "alice", 2)
    identity.authenticate("alice", PASSWORD)


def test_lockout_starts_a_fresh_count(identity: IdentityService, clock: ManualClock) -> None:
    identity.add_user("alice", PASSWORD, [])
    fail(identity, "alice", 3)
    clock.advance(minutes=10)
    fail(identity, "alice", 2)
    assert identity.authenticate("alice", PASSWORD).username == "alice"


def test_unknown_names_are_throttled_without_recording_the_name(
    identity: IdentityService, keys: WorkspaceKeys, db_factory: sessionmaker[Session], audit: Any
) -> None:
    fail(identity, "Ghost.User", 3)
    with pytest.raises(ThrottledError) as err:
        identity.authenticate("ghost.user", PASSWORD)
    assert err.value.retry_after == 600
    events = login_events(audit)
    assert [e["reason"] for e in events] == ["unknown_user"] * 3 + ["throttled"]
    assert {e["actor"] for e in events} == {"unknown:" + keys.keyed_hash("ghost.user")[:16]}
    assert "ghost" not in repr(events).lower()
    with db_factory() as db:
        assert db.scalars(select(LoginThrottle.key)).all() == [keys.keyed_hash("ghost.user")]


def test_throttling_is_per_name(identity: IdentityService) -> None:
    identity.add_user("alice", PASSWORD, [])
    identity.add_user("bob", PASSWORD, [])
    fail(identity, "alice", 3)
    assert identity.authenticate("bob", PASSWORD).username == "bob"


def test_audit_failure_refuses_the_login(identity: IdentityService, audit: Any) -> None:
    identity.add_user("alice", PASSWORD, [])
    audit.fail = True
    with pytest.raises(AuditUnavailableError):
        identity.authenticate("alice", PASSWORD)
    with pytest.raises(AuditUnavailableError):
        identity.authenticate("alice", WRONG)


# -- step-up -------------------------------------------------------------------------------------


def test_step_up(identity: IdentityService, clock: ManualClock, audit: Any) -> None:
    secret = enrolled(identity)
    user = identity.authenticate("alice", PASSWORD, totp.code_at(secret, clock.now()))
    clock.advance(seconds=30)
    code = totp.code_at(secret, clock.now())
    identity.verify_totp(user, code, session_id="s1")
    event = login_events(audit)[-1]
    assert (event["action"], event["outcome"], event["session_id"]) == ("auth.mfa.verify", "success", "s1")
    with pytest.raises(AuthenticationError):
        identity.verify_totp(user, code, session_id="s1")
    assert login_events(audit)[-1]["reason"] == "totp_replay"


def test_step_up_failures_lock(identity: IdentityService, clock: ManualClock) -> None:
    secret = enrolled(identity)
    user = identity.get_user("alice")
    wrong = invalid_code(secret, clock)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            identity.verify_totp(user, wrong)
    with pytest.raises(ThrottledError):
        identity.verify_totp(user, totp.code_at(secret, clock.now()))


def test_step_up_needs_enrolment_and_an_enabled_user(identity: IdentityService, audit: Any) -> None:
    user = identity.add_user("alice", PASSWORD, [])
    with pytest.raises(MfaRequiredError):
        identity.verify_totp(user, "123456")
    assert login_events(audit)[-1]["reason"] == "mfa_not_enrolled"
    identity.disable_user("alice")
    with pytest.raises(AuthenticationError):
        identity.verify_totp(user, "123456")
    assert login_events(audit)[-1]["reason"] == "disabled"

"""The session-clearing self-test: open a real session, put material in it, end it, check it is gone.

It runs through the same ``SessionManager`` and ``SessionMaterial`` the workspace uses for people, in
this process, so it proves the code path and the audit trail, not a claim in the configuration:

1. a session is opened for the system account ``system:readiness`` (``session.open``);
2. a buffer of random bytes (no image, no personal data) is put into the session's material under a
   fresh random id;
3. the session is ended with reason ``readiness_selftest`` (``session.end``, ``session.purge``);
4. the check passes only if the buffer was overwritten with zeros, the material no longer holds it,
   the session is marked ended and purged, and the ``session.purge`` record names the buffer's id.

``system:readiness`` is a disabled account with no roles and a random password nobody knows, created on
first use (``admin.user.create``). Its name has a colon, which no account made through Sealroom can have,
so it cannot collide with a person; being disabled, it cannot sign in.
"""

from __future__ import annotations

import secrets
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.db.models import AuditEvent, User, WorkspaceSession
from sealroom.errors import SealroomError
from sealroom.material import OpenedImage
from sealroom.readiness.report import Check, passed
from sealroom.sessions import SessionManager, new_id

SELFTEST_ACTOR: Final = "system:readiness"
END_REASON: Final = "readiness_selftest"
BUFFER_BYTES: Final = 4096
TITLE = "Ending a session destroys its material (self-test)"
REMEDY = (
    "do not go live: session material outlives its session. Check that the audit log accepts records "
    "(sealroom audit verify) and report this with the Sealroom version"
)


def purge_self_test(
    db: sessionmaker[Session],
    sessions: SessionManager,
    audit: AuditLog,
    clock: Clock,
    password_hash: str,
) -> Check:
    """``d.selftest``: run the self-test described in the module docstring.

    ``password_hash`` is a hash of a random secret, used only if the system account must be created.
    Audit: ``admin.user.create`` (first run), ``session.open``, ``session.end``, ``session.purge``.
    """
    try:
        user = _system_user(db, audit, clock, password_hash)
        active, _token = sessions.open(user, mfa_verified=False)
        image_id = new_id()
        buffer = bytearray(secrets.token_bytes(BUFFER_BYTES))
        sessions.material.put(active.id, OpenedImage(image_id=image_id, plaintext=buffer, pages=()))
        held = sessions.material.get(active.id, image_id) is not None
        purged = sessions.end(active.id, END_REASON)
    except SealroomError as exc:
        return Check("d.selftest", TITLE, "fail", f"the self-test could not run: {exc.code}", REMEDY)
    faults = []
    if not held:
        faults.append("the material did not accept the test buffer")
    if any(buffer):
        faults.append("the buffer was not overwritten")
    if sessions.material.get(active.id, image_id) is not None or sessions.material.held_ids(active.id):
        faults.append("the material still holds the buffer")
    if image_id not in purged:
        faults.append("the purge did not report the buffer")
    with db() as session:
        row = session.get(WorkspaceSession, active.id)
        if row is None or row.ended_at is None or row.end_reason != END_REASON:
            faults.append("the session is not marked ended")
        record = session.scalar(
            select(AuditEvent.details).where(
                AuditEvent.session_id == active.id, AuditEvent.action == "session.purge"
            )
        )
    if not isinstance(record, dict) or image_id not in record.get("images_purged", []):
        faults.append("no session.purge audit record names the buffer")
    if faults:
        return Check("d.selftest", TITLE, "fail", "; ".join(faults), REMEDY)
    return passed(
        "d.selftest", TITLE,
        f"a {BUFFER_BYTES}-byte test buffer was zeroed and dropped when its session ended, and the purge "
        "is on record (session.purge)",
    )  # fmt: skip


def _system_user(db: sessionmaker[Session], audit: AuditLog, clock: Clock, password_hash: str) -> User:
    with db() as session:
        found = session.scalar(select(User).where(User.username == SELFTEST_ACTOR))
        if found is not None:
            return found
        user = User(
            id=new_id(),
            username=SELFTEST_ACTOR,
            display_name="Readiness self-test (system)",
            password_hash=password_hash,
            roles=[],
            totp_secret_enc=None,
            mfa_enrolled=False,
            totp_last_step=0,
            disabled=True,
            created_at=clock.now(),
        )
        session.add(user)
        session.flush()
        audit.record(
            session, category="admin", action="admin.user.create", outcome="success", actor=SELFTEST_ACTOR,
            details={"user": SELFTEST_ACTOR, "roles": [], "system": True, "disabled": True},
        )  # fmt: skip
        try:
            session.commit()
        except IntegrityError:  # created meanwhile by a concurrent evaluation
            session.rollback()
            again = session.scalar(select(User).where(User.username == SELFTEST_ACTOR))
            assert again is not None
            return again
        return user

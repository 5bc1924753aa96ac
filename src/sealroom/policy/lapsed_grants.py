"""When a case grant ends — it expires or is revoked — access stops at once: every request is decided
against the grants in force. This module makes the end visible and final: the expiry is recorded in the
audit log, and any image of that case still held in the user's open sessions is destroyed.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.db.models import Grant, Image, User, WorkspaceSession
from sealroom.material import SessionMaterial

BATCH = 500


def drop_case_material(
    db: Session,
    audit: AuditLog,
    material: SessionMaterial,
    user_id: str,
    username: str,
    case_id: str,
    reason: str,
) -> list[str]:
    """Destroy the images of ``case_id`` held by the user's open sessions, recording each purge
    (``session.purge``) in the caller's transaction; returns the image ids destroyed."""
    sessions = db.scalars(
        select(WorkspaceSession.id).where(
            WorkspaceSession.user_id == user_id, WorkspaceSession.ended_at.is_(None)
        )
    )
    dropped: list[str] = []
    for session_id in sessions:
        held = material.held_ids(session_id)
        if not held:
            continue
        of_case = set(db.scalars(select(Image.id).where(Image.id.in_(held), Image.case_id == case_id)))
        gone = sorted(image_id for image_id in of_case if material.drop(session_id, image_id))
        if gone:
            audit.record(
                db, category="session", action="session.purge", outcome="success", actor=username,
                session_id=session_id, case_id=case_id, reason=reason,
                details={"images_purged": gone, "count": len(gone)},
            )  # fmt: skip
            dropped.extend(gone)
    return dropped


def close_lapsed_grants(
    db_factory: Callable[[], Session], audit: AuditLog, clock: Clock, material: SessionMaterial
) -> int:
    """Record grants that expired (``access.grant.expire``) and destroy material that ended grants
    (expired or revoked) left in open sessions, unless another grant still covers the case.
    Each grant is handled once; returns how many were."""
    now = clock.now()
    with db_factory() as db:
        lapsed = list(
            db.scalars(
                select(Grant)
                .where(
                    Grant.ended_noted_at.is_(None),
                    or_(Grant.revoked_at.is_not(None), Grant.expires_at <= now),
                )
                .order_by(Grant.expires_at)
                .limit(BATCH)
            )
        )
        for grant in lapsed:
            grant.ended_noted_at = now
            if grant.revoked_at is None:
                audit.record(
                    db, category="access", action="access.grant.expire", outcome="success",
                    actor="system", case_id=grant.case_id,
                    details={"grant_id": grant.id, "user_id": grant.user_id, "source": grant.source,
                             "request_id": grant.request_id, "expired_at": grant.expires_at.isoformat()},
                )  # fmt: skip
            still_covered = db.scalar(
                select(Grant.id)
                .where(
                    Grant.user_id == grant.user_id,
                    Grant.case_id == grant.case_id,
                    Grant.revoked_at.is_(None),
                    Grant.expires_at > now,
                )
                .limit(1)
            )
            if still_covered is None:
                user = db.get(User, grant.user_id)
                name = user.username if user is not None else grant.user_id
                reason = "grant_revoked" if grant.revoked_at is not None else "grant_expired"
                drop_case_material(db, audit, material, grant.user_id, name, grant.case_id, reason)
        db.commit()
        return len(lapsed)

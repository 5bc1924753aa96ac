"""What happens to an access request after submission: approval takes effect, the first use is
noted, and time runs out. Each function writes in the caller's transaction (the caller commits)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from sealroom.audit.log import AuditLog
from sealroom.db.models import AccessRequest, RoleElevation
from sealroom.errors import GoneError
from sealroom.policy.grants import GrantService
from sealroom.sessions import ActiveSession, new_id

SYSTEM = "system"


def fulfil(
    db: Session,
    audit: AuditLog,
    grants: GrantService,
    actor: ActiveSession,
    req: AccessRequest,
    now: datetime,
) -> None:
    """Give what an approved request asked for: a case grant (``admin.grant.create``, through the
    grant service) or a role elevation (``access.elevation.grant``). An approved export is delivered
    later, once, by the export service."""
    assert req.access_expires_at is not None
    if req.kind == "case":
        assert req.case_id is not None
        grant = grants.add_grant(
            db,
            user_id=req.requester_id,
            username=req.requester,
            case_id=req.case_id,
            # Only the id: the reason is for those who may see the request, not for grant listings.
            purpose=f"request {req.id}",
            granted_by=actor.username,
            expires_at=req.access_expires_at,
            source="request",
            request_id=req.id,
        )
        req.grant_id = grant.id
    elif req.kind in ("dataset", "role"):
        assert req.role is not None
        elevation = RoleElevation(
            id=new_id(),
            user_id=req.requester_id,
            role=req.role,
            dataset=req.dataset if req.kind == "dataset" else None,
            request_id=req.id,
            created_at=now,
            expires_at=req.access_expires_at,
            revoked_at=None,
        )
        db.add(elevation)
        db.flush()
        req.elevation_id = elevation.id
        audit.record(
            db,
            category="access",
            action="access.elevation.grant",
            outcome="success",
            actor=actor.username,
            session_id=actor.id,
            details={
                "elevation_id": elevation.id,
                "request_id": req.id,
                "user": req.requester,
                "role": elevation.role,
                "dataset": elevation.dataset,
                "expires_at": elevation.expires_at.isoformat(),
            },
        )


def record_request_use(
    db: Session, audit: AuditLog, now: datetime, actor: ActiveSession, request_id: str
) -> None:
    """Mark the first use of access that came from request ``request_id`` (``access.request.use``).

    Called by the Gatekeeper when it allows an access on the basis of a grant or elevation from a
    request; later uses record nothing.
    """
    req = db.get(AccessRequest, request_id)
    if req is None or req.used_at is not None:
        return
    if not _claim(db, request_id, AccessRequest.used_at.is_(None), used_at=now):
        return
    req.used_at = now
    audit.record(
        db,
        category="access",
        action="access.request.use",
        outcome="success",
        actor=actor.username,
        session_id=actor.id,
        case_id=req.case_id,
        image_id=req.image_id,
        details={"request_id": req.id, "kind": req.kind},
    )


def expire_all(db: Session, audit: AuditLog, now: datetime) -> int:
    """Expire every request whose time is up; returns how many changed."""
    due = db.scalars(
        select(AccessRequest).where(
            or_(
                (AccessRequest.status == "pending") & (AccessRequest.expires_at <= now),
                (AccessRequest.status == "approved") & (AccessRequest.access_expires_at <= now),
            )
        )
    )
    return sum(1 for req in list(due) if expire_if_due(db, audit, req, now))


def expire_if_due(db: Session, audit: AuditLog, req: AccessRequest, now: datetime) -> bool:
    """Expire ``req`` if its time is up (``access.request.expire``, once); whether it changed."""
    phase: str | None = None
    if req.status == "pending" and now >= req.expires_at:
        phase = "undecided"
    elif req.status == "approved" and req.access_expires_at is not None and now >= req.access_expires_at:
        if req.kind != "export":
            phase = "access_ended"
        elif req.used_at is None:
            phase = "delivery_window_passed"
    if phase is None:
        return False
    if not _claim(db, req.id, AccessRequest.status == req.status, status="expired"):
        db.refresh(req)
        return False
    req.status = "expired"
    audit.record(
        db,
        category="access",
        action="access.request.expire",
        outcome="success",
        actor=SYSTEM,
        case_id=req.case_id,
        image_id=req.image_id,
        details={"request_id": req.id, "kind": req.kind, "phase": phase, "requester": req.requester},
    )
    return True


def expired_error(req: AccessRequest) -> GoneError:
    """The error for acting on a request that has expired."""
    return GoneError(
        f"request {req.id} has expired; submit a new request if the access is still needed",
        reason="expired",
    )


def _claim(db: Session, request_id: str, condition: ColumnElement[bool], **values: object) -> bool:
    """Update request ``request_id`` only while ``condition`` holds; whether it changed the row.

    Of two writers racing to make the same change (say, a maintenance pass and a reader), exactly one
    wins, and only the winner records it.
    """
    result = db.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request_id, condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's result has rowcount

"""Reading access requests: loading one by id, its reviews, and the view shown to people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from sealroom.db.models import AccessRequest, RequestReview
from sealroom.errors import NotFoundError

NOT_VISIBLE = "No access request with that id is visible to you."
STATUSES = ("pending", "approved", "denied", "cancelled", "expired", "delivered")
VIEWS = ("mine", "review", "all")
LIST_LIMIT = 500


def request_view(req: AccessRequest, reviews: list[RequestReview]) -> dict[str, Any]:
    """The request as shown to the people allowed to see it, with its reviews in order."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": req.id,
        "kind": req.kind,
        "requester": req.requester,
        "dataset": req.dataset,
        "case_id": req.case_id,
        "role": req.role,
        "image_id": req.image_id,
        "export_format": req.export_format,
        "export_variant": req.export_variant,
        "reason": req.reason,
        "duration_minutes": req.duration_minutes,
        "approvals_required": req.approvals_required,
        "approvals": sum(1 for review in reviews if review.decision == "approve"),
        "status": req.status,
        "created_at": when(req.created_at),
        "expires_at": when(req.expires_at),
        "decided_at": when(req.decided_at),
        "access_expires_at": when(req.access_expires_at),
        "used_at": when(req.used_at),
        "reviews": [
            {
                "reviewer": review.reviewer,
                "decision": review.decision,
                "note": review.note,
                "decided_at": when(review.decided_at),
            }
            for review in reviews
        ],
    }


def load_request(db: Session, request_id: str, *, lock: bool = False) -> AccessRequest:
    """The request ``request_id``; ``NotFoundError`` (``NOT_VISIBLE``) if there is none."""
    req = db.get(AccessRequest, request_id, with_for_update=lock)
    if req is None:
        raise NotFoundError(NOT_VISIBLE)
    return req


def listing_query(user_id: str, view: str, status: str | None) -> Select[AccessRequest]:
    """Requests newest first, at most ``LIST_LIMIT``, optionally of one ``status``: the user's own
    (``mine``), all (``all``), or pending ones of others the user has not reviewed (``review``; the
    caller still keeps only those the user may decide)."""
    query = select(AccessRequest).order_by(AccessRequest.created_at.desc(), AccessRequest.id)
    if view == "mine":
        query = query.where(AccessRequest.requester_id == user_id)
    elif view == "review":
        reviewed = select(RequestReview.request_id).where(RequestReview.reviewer_id == user_id)
        query = query.where(
            AccessRequest.status == "pending",
            AccessRequest.requester_id != user_id,
            AccessRequest.id.not_in(reviewed),
        )
    if status is not None:
        query = query.where(AccessRequest.status == status)
    return query.limit(LIST_LIMIT)


def reviews_by_request(db: Session, request_ids: list[str]) -> dict[str, list[RequestReview]]:
    """The reviews of each of ``request_ids``, oldest first."""
    grouped: dict[str, list[RequestReview]] = {}
    if not request_ids:
        return grouped
    rows = db.scalars(
        select(RequestReview)
        .where(RequestReview.request_id.in_(request_ids))
        .order_by(RequestReview.decided_at, RequestReview.id)
    )
    for review in rows:
        grouped.setdefault(review.request_id, []).append(review)
    return grouped


def approval_count(db: Session, request_id: str) -> int:
    """How many approvals request ``request_id`` has."""
    return (
        db.scalar(
            select(func.count())
            .select_from(RequestReview)
            .where(RequestReview.request_id == request_id, RequestReview.decision == "approve")
        )
        or 0
    )


def has_reviewed(db: Session, request_id: str, user_id: str) -> bool:
    """Whether user ``user_id`` has already approved or denied request ``request_id``."""
    return bool(
        db.scalar(
            select(RequestReview.id).where(
                RequestReview.request_id == request_id, RequestReview.reviewer_id == user_id
            )
        )
    )

"""Access requests: a user asks for a case, a data set or a role; others approve or deny.

Kinds: ``case`` (one case of a data set; approval creates a case grant), ``dataset`` (a role limited
to one data set) and ``role`` (a role on all its data sets); both of these create a role elevation.
``export`` requests are created by the export service and decided here like the others. A request
needs ``approvals_required`` approvals from people allowed ``request:approve`` on every data set it
concerns (for a case: the one named and every one the case's images are in), never from the
requester; one denial ends it. Each approval counts under the configuration of the day: the number
needed is raised (never lowered) when a data set concerned now asks for more. Approved access ends
by itself at ``access_expires_at``; undecided requests expire at ``expires_at``.

Audit (category ``access`` unless noted): ``access.request.submit`` (success, or failure with the
refusal's reason), ``access.decision`` (each approver's permission check; ``own_request`` refusals),
``access.request.approve`` / ``access.request.deny`` / ``access.request.cancel`` (success, or failure
with a reason), ``access.elevation.grant``, ``admin.grant.create`` (category ``admin``, through the
grant service), ``access.request.expire`` (phase ``undecided``, ``access_ended`` or
``delivery_window_passed``) and ``access.request.use``. Reasons and notes stay in the request tables;
the log holds their length only.

This module orchestrates; the rules live in ``request_rules`` (submission checks), ``request_reviewers``
(who may decide or see), ``request_lifecycle`` (effect, first use, expiry) and ``request_views``.
"""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper, printable
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import AccessRequest, RequestReview, User
from sealroom.errors import AccessDeniedError, ConflictError, InputError, NotFoundError, SealroomError
from sealroom.policy.grants import CASE_ID_PATTERN, GrantService
from sealroom.policy.request_lifecycle import (
    expire_all,
    expire_if_due,
    expired_error,
    fulfil,
    record_request_use,
)
from sealroom.policy.request_reviewers import Reviewers, active_elevations
from sealroom.policy.request_rules import MAX_REASON, check_submission, refuse_duplicate
from sealroom.policy.request_views import (
    NOT_VISIBLE,
    STATUSES,
    VIEWS,
    approval_count,
    has_reviewed,
    listing_query,
    load_request,
    request_view,
    reviews_by_request,
)
from sealroom.sessions import ActiveSession, new_id
from sealroom.statements import clean_statement

__all__ = ["MAX_NOTE", "MAX_REASON", "RequestService", "record_request_use", "request_view"]

MAX_NOTE = 1000


class RequestService:
    """Submits, reviews, lists and expires access and export requests."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
        audit: AuditLog,
        grants: GrantService,
        gate: Gatekeeper,
    ) -> None:
        self._gate = gate
        self._db = db
        self._settings = settings
        self._clock = clock
        self._audit = audit
        self._grants = grants
        self._reviewers = Reviewers(settings, gate)

    def submit(
        self,
        actor: ActiveSession,
        kind: str,
        *,
        reason: str,
        duration_minutes: int,
        case_id: str | None = None,
        dataset: str | None = None,
        role: str | None = None,
    ) -> AccessRequest:
        """Ask for access to a case (``case``: dataset and case_id), a role on one data set
        (``dataset``: dataset and role) or a role (``role``), for ``duration_minutes`` once approved.

        Raises ``InputError`` naming what is wrong (kind, reason, duration, unknown data set or role,
        malformed case id) and ``ConflictError`` when the same request is already pending; refusals
        are audited too. Audit: ``access.request.submit``.
        """
        now = self._clock.now()
        with self._db() as db:
            try:
                checked = check_submission(
                    db, self._settings, actor, kind, reason, duration_minutes, case_id, dataset, role
                )
                refuse_duplicate(db, actor, checked)
            except (InputError, ConflictError) as exc:
                self._audit.record(
                    db,
                    category="access",
                    action="access.request.submit",
                    outcome="failure",
                    actor=actor.username,
                    session_id=actor.id,
                    case_id=case_id.strip() if case_id and CASE_ID_PATTERN.match(case_id.strip()) else None,
                    reason=exc.reason,
                    details={
                        "kind": printable(kind if isinstance(kind, str) else None, 16),
                        "dataset": printable(dataset),
                        "role": printable(role, 64),
                        "duration_minutes": duration_minutes if isinstance(duration_minutes, int) else None,
                        "reason_chars": len(reason.strip()) if isinstance(reason, str) else 0,
                    },
                )
                db.commit()
                raise
            req = AccessRequest(
                id=new_id(),
                kind=checked.kind,
                requester_id=actor.user_id,
                requester=actor.username,
                dataset=checked.dataset,
                case_id=checked.case_id,
                role=checked.role,
                reason=checked.reason,
                duration_minutes=checked.duration_minutes,
                approvals_required=checked.approvals_required,
                status="pending",
                created_at=now,
                expires_at=now + timedelta(hours=self._settings.access.request_pending_hours),
            )
            db.add(req)
            db.flush()
            self._record(
                db,
                actor,
                req,
                "access.request.submit",
                details={
                    "request_id": req.id,
                    "kind": req.kind,
                    "dataset": req.dataset,
                    "role": req.role,
                    "duration_minutes": req.duration_minutes,
                    "approvals_required": req.approvals_required,
                    "reason_chars": len(req.reason),
                },
            )
            db.commit()
            return req

    def approve(self, actor: ActiveSession, request_id: str, note: str = "") -> AccessRequest:
        """Approve a pending request; with enough approvals it takes effect (grant, elevation, or an
        export ready for delivery).

        Raises ``NotFoundError`` (no such request, or one the actor may not see: the same answer),
        ``AccessDeniedError`` (own request: ``own_request``; or, for someone who may see it,
        ``request:approve`` missing on a data set or classification concerned), ``GoneError`` (it
        expired undecided), ``ConflictError`` (not pending, already reviewed by you, requester
        disabled, image or role gone). Audit: ``access.decision``, ``access.request.approve`` and, on
        the last approval, ``admin.grant.create`` or ``access.elevation.grant``.
        """
        return self._review(actor, request_id, "approve", note)

    def deny(self, actor: ActiveSession, request_id: str, note: str) -> AccessRequest:
        """Deny a pending request (a note saying why is required); one denial ends it.

        Raises as ``approve`` does, and ``InputError`` without a note. Audit: ``access.decision``,
        ``access.request.deny``.
        """
        return self._review(actor, request_id, "deny", note)

    def cancel(self, actor: ActiveSession, request_id: str) -> AccessRequest:
        """Withdraw your own pending request. Raises ``NotFoundError`` (not visible to you),
        ``AccessDeniedError`` (someone else's), ``GoneError`` (expired) or ``ConflictError`` (already
        decided). Audit: ``access.request.cancel``."""
        action = "access.request.cancel"
        now = self._clock.now()
        with self._db() as db:
            req = self._load_visible(db, actor, request_id, now, lock=True)
            if req.requester_id != actor.user_id:
                self._refuse(
                    db,
                    actor,
                    req,
                    action,
                    AccessDeniedError("only the requester can cancel a request", reason="not_requester"),
                )
            self._refuse_unless_pending(db, actor, req, action, "cancelled")
            req.status, req.decided_at = "cancelled", now
            self._record(db, actor, req, action, details={"request_id": req.id, "kind": req.kind})
            db.commit()
            return req

    def get(self, actor: ActiveSession, request_id: str) -> dict[str, Any]:
        """A request with its reviews, for its requester, its possible approvers and auditors.

        Raises ``NotFoundError`` (the same message whether it exists or not) for anyone else.
        """
        with self._db() as db:
            req = self._load_visible(db, actor, request_id, self._clock.now())
            return request_view(req, reviews_by_request(db, [req.id]).get(req.id, []))

    def list(
        self, actor: ActiveSession, *, view: str = "mine", status: str | None = None
    ) -> list[dict[str, Any]]:
        """Requests newest first: ``mine`` (your own), ``review`` (pending ones you may decide and
        have not reviewed) or ``all`` (needs ``audit:read``; the check is audited), optionally of one
        ``status``. Raises ``InputError`` for an unknown view or status, ``AccessDeniedError`` for
        ``all`` without ``audit:read``."""
        if view not in VIEWS:
            raise InputError(f"view must be one of {', '.join(VIEWS)}")
        if status is not None and status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}")
        now = self._clock.now()
        with self._db() as db:
            if expire_all(db, self._audit, now):
                db.commit()
            if view == "all":
                self._gate.require(db, actor, "audit:read")
                db.commit()
            found = builtins.list(db.scalars(listing_query(actor.user_id, view, status)))
            if view == "review":
                elevations = active_elevations(db, actor, now)
                found = [req for req in found if self._reviewers.may_approve(db, actor, req, now, elevations)]
            reviews = reviews_by_request(db, [req.id for req in found])
            return [request_view(req, reviews.get(req.id, [])) for req in found]

    def expire_due(self) -> int:
        """Expire undecided requests and approved access that ran out; returns how many changed.

        Idempotent: each request is expired, and recorded (``access.request.expire``), once.
        """
        with self._db() as db:
            changed = expire_all(db, self._audit, self._clock.now())
            db.commit()
            return changed

    def _review(self, actor: ActiveSession, request_id: str, decision: str, note: str) -> AccessRequest:
        note = _check_note(decision, note)
        action = f"access.request.{decision}"
        now = self._clock.now()
        with self._db() as db:
            req = load_request(db, request_id, lock=True)
            if req.requester_id == actor.user_id:
                self._record(
                    db,
                    actor,
                    req,
                    "access.decision",
                    outcome="deny",
                    reason="own_request",
                    details={"requested": "request:approve", "request_id": req.id, "decision": decision},
                )
                db.commit()
                raise AccessDeniedError(
                    "you cannot decide your own request; another approver has to", reason="own_request"
                )
            # Authorise first (on what is left of the target if part of it is gone), so only people
            # entitled to decide learn anything about the request's state, and people who may not
            # even see it learn no more than from an unknown id.
            loose = self._reviewers.targets(db, req, strict=False)
            missing = self._reviewers.missing(db, actor, req, loose)
            if missing or not loose:
                if not self._reviewers.visible(db, actor, req, now):
                    if not loose:  # no scope was asked about: the refusal still goes on record
                        self._record(
                            db,
                            actor,
                            req,
                            "access.decision",
                            outcome="deny",
                            reason="not_visible",
                            details={
                                "requested": "request:approve",
                                "request_id": req.id,
                                "decision": decision,
                            },
                        )
                    db.commit()
                    raise NotFoundError(NOT_VISIBLE)
                if missing:
                    db.commit()
                    raise self._reviewers.refusal(missing)
            try:
                targets = self._reviewers.targets(db, req, strict=True)
            except ConflictError as exc:
                self._refuse(db, actor, req, action, exc)
            # The decision's audit record holds the write lock now (SQLite); read the current state.
            db.refresh(req)
            expire_if_due(db, self._audit, req, now)
            self._refuse_unless_pending(db, actor, req, action, "decided")
            if has_reviewed(db, req.id, actor.user_id):
                self._refuse(
                    db,
                    actor,
                    req,
                    action,
                    ConflictError(
                        "you have already reviewed this request; "
                        "another approver must give the next decision",
                        reason="already_reviewed",
                    ),
                )
            requester = db.get(User, req.requester_id)
            if decision == "approve" and (requester is None or requester.disabled):
                self._refuse(
                    db,
                    actor,
                    req,
                    action,
                    ConflictError(
                        f"{req.requester}'s account is disabled; the request cannot be approved",
                        reason="requester_disabled",
                    ),
                )
            db.add(
                RequestReview(
                    id=new_id(),
                    request_id=req.id,
                    reviewer_id=actor.user_id,
                    reviewer=actor.username,
                    decision=decision,
                    note=note,
                    decided_at=now,
                )
            )
            db.flush()
            approvals = approval_count(db, req.id)
            submitted_with = req.approvals_required
            if decision == "approve":
                # Decided under the rule of today, not the one of the day it was filed.
                req.approvals_required = self._reviewers.approvals_required(req, targets)
            if decision == "deny":
                req.status, req.decided_at = "denied", now
            elif approvals >= req.approvals_required:
                req.status, req.decided_at = "approved", now
                req.access_expires_at = now + timedelta(minutes=req.duration_minutes)
            self._record(
                db,
                actor,
                req,
                action,
                details={
                    "request_id": req.id,
                    "kind": req.kind,
                    "approvals": approvals,
                    "approvals_required": req.approvals_required,
                    **(
                        {"approvals_required_before": submitted_with}
                        if req.approvals_required != submitted_with
                        else {}
                    ),
                    "status": req.status,
                    "note_chars": len(note),
                },
            )
            if req.status == "approved":
                fulfil(db, self._audit, self._grants, actor, req, now)
            db.commit()
            return req

    def _load_visible(
        self, db: Session, actor: ActiveSession, request_id: str, now: datetime, *, lock: bool = False
    ) -> AccessRequest:
        """Load a request, expiring it if due; ``NotFoundError`` unless the actor may see it."""
        req = load_request(db, request_id, lock=lock)
        if expire_if_due(db, self._audit, req, now):
            db.commit()
        if not self._reviewers.visible(db, actor, req, now):
            raise NotFoundError(NOT_VISIBLE)
        return req

    def _refuse_unless_pending(
        self, db: Session, actor: ActiveSession, req: AccessRequest, action: str, verb: str
    ) -> None:
        """Refuse ``action`` on a request that is no longer pending (``GoneError`` if it expired)."""
        if req.status == "expired":
            self._refuse(db, actor, req, action, expired_error(req))
        if req.status != "pending":
            self._refuse(
                db,
                actor,
                req,
                action,
                ConflictError(
                    f"request {req.id} is {req.status}; only pending requests can be {verb}",
                    reason="not_pending",
                ),
            )

    def _refuse(
        self, db: Session, actor: ActiveSession, req: AccessRequest, action: str, exc: SealroomError
    ) -> NoReturn:
        """Record a refused decision (or cancellation), commit, and raise ``exc``."""
        self._record(
            db,
            actor,
            req,
            action,
            outcome="failure",
            reason=exc.reason,
            details={"request_id": req.id, "kind": req.kind, "status": req.status},
        )
        db.commit()
        raise exc

    def _record(
        self,
        db: Session,
        actor: ActiveSession,
        req: AccessRequest,
        action: str,
        *,
        outcome: str = "success",
        reason: str | None = None,
        details: dict[str, Any],
    ) -> None:
        """Audit ``action`` by the actor on ``req`` (category ``access``), in ``db``'s transaction."""
        self._audit.record(
            db,
            category="access",
            action=action,
            outcome=outcome,
            actor=actor.username,
            session_id=actor.id,
            case_id=req.case_id,
            image_id=req.image_id,
            reason=reason,
            details=details,
        )


def _check_note(decision: str, note: str) -> str:
    """A reviewer's note, cleaned: optional for an approval, required (visible text) for a denial."""
    cleaned = clean_statement(note, what="note", minimum=0, maximum=MAX_NOTE)
    if decision == "deny" and not cleaned:
        raise InputError("a denial needs a note: say why, so the requester knows what to do next")
    return cleaned

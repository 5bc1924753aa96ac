"""Break-glass: immediate, time-boxed emergency access to a case, loud and reviewed.

A user whose roles allow analysing images (``image:analyze``) of a data set that allows break-glass
may take access to one of its cases at once, with a written justification: emergency access is for
the staff who act on the case, not for those who file or supervise it. In one transaction: the
``BreakGlass`` record, a case grant (``source="break_glass"``) running for the data set's
``break_glass_minutes`` at most, and the audit record ``access`` / ``access.break_glass`` (flagged
``break_glass: true``). Then an alert goes out (``sealroom.alerts``); access does not wait for it and
does not depend on it — it is an emergency — but the alert's fate is kept on the record
(``alert_status``) and audited (``alert.deliver``).

Every use stays in the review queue until a holder of ``breakglass:review`` other than the user who
took it closes it as ``justified`` or ``unjustified`` (``access.break_glass.review``). The
justification and the review note are kept in the table for reviewers; the audit log and the alert
carry only their lengths.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper, printable
from sealroom.alerts import Alert, AlertDispatcher, AlertStatus
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import BreakGlass, Grant, Image
from sealroom.errors import AccessDeniedError, ConflictError, InputError, NotFoundError
from sealroom.policy.engine import grant_is_active
from sealroom.policy.grants import CASE_ID_PATTERN, GrantService
from sealroom.sessions import ActiveSession
from sealroom.statements import clean_statement

MIN_JUSTIFICATION = 20
MAX_JUSTIFICATION = 2000
MAX_NOTE = 2000
OUTCOMES = ("justified", "unjustified")
QueueStatus = Literal["open", "closed", "all"]


class BreakGlassService:
    """Takes emergency access, raises the alert, keeps the review queue."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        gate: Gatekeeper,
        clock: Clock,
        audit: AuditLog,
        alerts: AlertDispatcher,
        grants: GrantService,
    ) -> None:
        self._grants = grants
        self._db = db
        self._settings = settings
        self._gate = gate
        self._clock = clock
        self._audit = audit
        self._alerts = alerts

    def take(
        self,
        actor: ActiveSession,
        *,
        case_id: str,
        dataset: str,
        justification: str,
        minutes: int | None = None,
    ) -> BreakGlass:
        """Give ``actor`` emergency access to ``case_id`` in ``dataset`` now, and raise the alert.

        Raises ``InputError`` for a malformed case id, a justification without 20-2000 visible
        characters or minutes beyond the data set's limit; ``AccessDeniedError`` (audited
        ``access.decision`` deny) when the data set does not allow break-glass
        (``break_glass_not_enabled``), the actor's roles do not allow ``image:analyze`` on it, or the
        case holds images of another data set (``case_outside_dataset``);
        ``ConflictError`` when the actor already holds access to the case. Audit:
        ``access.break_glass`` and ``admin.grant.create`` in the same transaction, then
        ``alert.deliver`` per sink. The returned record's ``alert_status`` is updated in place when
        delivery ends.
        """
        case_id = case_id.strip()
        if not CASE_ID_PATTERN.match(case_id):
            raise InputError("a case id is 1-128 characters: letters, digits and . _ : / # -")
        try:
            text = clean_statement(
                justification, what="justification", minimum=MIN_JUSTIFICATION, maximum=MAX_JUSTIFICATION
            )
        except InputError as exc:
            raise InputError(
                f"say what the emergency is: {exc.message} (it goes to the reviewers, not into the alert)"
            ) from None
        now = self._clock.now()
        with self._db() as db:
            config = self._settings.datasets.get(dataset)
            if config is None or not config.break_glass:
                self._deny(db, actor, dataset, case_id, "break_glass_not_enabled")
                raise AccessDeniedError(
                    f"data set {printable(dataset, 64)!r} does not allow break-glass access; "
                    "file an access request instead",
                    reason="break_glass_not_enabled",
                )
            # Role scope only (no image yet): emergency access is for people who act on the case.
            decision = self._gate.decide(db, actor, "image:analyze", dataset=dataset, case_id=case_id)
            if not decision.allowed:
                db.commit()
                raise AccessDeniedError(
                    f"your roles do not allow analysing images of data set {dataset}; break-glass is for "
                    f"staff who act on the case ({decision.reason.replace('_', ' ')})",
                    reason=decision.reason,
                )
            limit = config.break_glass_minutes
            chosen = limit if minutes is None else minutes
            if not 1 <= chosen <= limit:
                db.commit()  # the allow decision above stays on record
                raise InputError(f"break-glass access on {dataset} lasts 1-{limit} minutes")
            if self._case_elsewhere(db, case_id, dataset):
                self._deny(db, actor, dataset, case_id, "case_outside_dataset")
                raise AccessDeniedError(
                    f"case {case_id} holds material outside data set {dataset}; break-glass covers "
                    "one data set only: file an access request instead",
                    reason="case_outside_dataset",
                )
            held = self._active_grant(db, actor, case_id, now)
            if held is not None:
                db.commit()
                raise ConflictError(
                    f"you already have access to case {case_id} until {held.expires_at.isoformat()}; "
                    "break-glass is not needed"
                )
            record = self._insert(db, actor, dataset, case_id, text, now, now + timedelta(minutes=chosen))
            db.commit()
        self._raise_alert(record)
        return record

    def queue(self, actor: ActiveSession, *, status: QueueStatus = "open") -> list[dict[str, Any]]:
        """Break-glass uses (open: not yet reviewed), newest first, with justification and alert status.

        Needs ``breakglass:review`` (audited ``access.decision``).
        """
        if status not in ("open", "closed", "all"):
            raise InputError("status is open, closed or all")
        now = self._clock.now()
        with self._db() as db:
            self._gate.require(db, actor, "breakglass:review")
            query = select(BreakGlass).order_by(BreakGlass.started_at.desc(), BreakGlass.id)
            if status == "open":
                query = query.where(BreakGlass.reviewed_at.is_(None))
            elif status == "closed":
                query = query.where(BreakGlass.reviewed_at.is_not(None))
            rows = list(db.scalars(query))
            db.commit()
            return [describe(row, now) for row in rows]

    def review(self, actor: ActiveSession, break_glass_id: str, *, outcome: str, note: str) -> BreakGlass:
        """Close a break-glass use as ``justified`` or ``unjustified``, with a note.

        Needs ``breakglass:review``; never by the user who took it (``AccessDeniedError`` reason
        ``own_break_glass``, audited); once only (``ConflictError``). Audit: ``access.break_glass.review``.
        """
        if outcome not in OUTCOMES:
            raise InputError("the outcome is justified or unjustified")
        try:
            text = clean_statement(note, what="review note", maximum=MAX_NOTE)
        except InputError as exc:
            raise InputError(f"a review needs a note: say what you found ({exc.message})") from None
        now = self._clock.now()
        with self._db() as db:
            self._gate.require(db, actor, "breakglass:review")
            record = db.get(BreakGlass, break_glass_id, with_for_update=True)
            if record is None:
                db.commit()
                raise NotFoundError(f"no break-glass record with id {break_glass_id[:64]!r}")
            if record.user_id == actor.user_id:
                self._record_review(db, actor, record, "deny", outcome, text, reason="own_break_glass")
                db.commit()
                raise AccessDeniedError(
                    "you cannot review your own break-glass use; another reviewer must",
                    reason="own_break_glass",
                )
            if record.reviewed_at is not None:
                db.commit()
                raise ConflictError(
                    f"break-glass {record.id} was already reviewed by {record.reviewed_by} "
                    f"({record.review_outcome})"
                )
            record.reviewed_at = now
            record.reviewed_by = actor.username
            record.review_outcome = outcome
            record.review_note = text
            self._record_review(db, actor, record, "success", outcome, text, reason=None)
            db.commit()
            return record

    # Helpers.

    def _deny(self, db: Session, actor: ActiveSession, dataset: str, case_id: str, reason: str) -> None:
        self._audit.record(
            db,
            category="access",
            action="access.decision",
            outcome="deny",
            actor=actor.username,
            session_id=actor.id,
            case_id=case_id,
            reason=reason,
            details={"requested": "break_glass", "dataset": printable(dataset)},
        )
        db.commit()

    @staticmethod
    def _case_elsewhere(db: Session, case_id: str, dataset: str) -> bool:
        # A grant reaches a whole case, in every data set: emergency access on one data set must not
        # open images the case holds in another, which may not allow break-glass at all.
        found = db.scalar(select(Image.id).where(Image.case_id == case_id, Image.dataset != dataset).limit(1))
        return found is not None

    @staticmethod
    def _active_grant(db: Session, actor: ActiveSession, case_id: str, now: datetime) -> Grant | None:
        grants = db.scalars(select(Grant).where(Grant.user_id == actor.user_id, Grant.case_id == case_id))
        return next((grant for grant in grants if grant_is_active(grant, now)), None)

    def _insert(
        self,
        db: Session,
        actor: ActiveSession,
        dataset: str,
        case_id: str,
        justification: str,
        now: datetime,
        expires_at: datetime,
    ) -> BreakGlass:
        record_id = secrets.token_hex(16)
        grant = self._grants.add_grant(
            db,
            user_id=actor.user_id,
            username=actor.username,
            case_id=case_id,
            purpose=f"break-glass {record_id}",
            granted_by=actor.username,
            expires_at=expires_at,
            source="break_glass",
            request_id=record_id,
        )
        record = BreakGlass(
            id=record_id,
            user_id=actor.user_id,
            username=actor.username,
            session_id=actor.id,
            dataset=dataset,
            case_id=case_id,
            justification=justification,
            grant_id=grant.id,
            started_at=now,
            expires_at=expires_at,
            alert_status="pending",
        )
        db.add(record)
        self._audit.record(
            db,
            category="access",
            action="access.break_glass",
            outcome="allow",
            actor=actor.username,
            session_id=actor.id,
            case_id=case_id,
            reason="break_glass",
            details={
                "break_glass": True,
                "break_glass_id": record_id,
                "grant_id": grant.id,
                "dataset": dataset,
                "expires_at": expires_at.isoformat(),
                "justification_chars": len(justification),
            },
        )
        return record

    def _raise_alert(self, record: BreakGlass) -> None:
        alert = Alert(
            kind="break_glass",
            severity="alert",
            summary=f"Break-glass emergency access taken on data set {record.dataset}; review it",
            id=record.id,
            raised_at=record.started_at,
            fields={
                "break_glass_id": record.id,
                "user": record.username,
                "dataset": record.dataset,
                "case_id": record.case_id,
                "started_at": record.started_at.isoformat(),
                "expires_at": record.expires_at.isoformat(),
                "session_id": record.session_id,
                "review": f"sealroom break-glass queue; sealroom break-glass review {record.id}",
            },
        )
        record_id = record.id

        def on_result(status: AlertStatus) -> None:
            record.alert_status = status
            with self._db() as db:
                stored = db.get(BreakGlass, record_id)
                if stored is not None:
                    stored.alert_status = status
                    db.commit()

        self._alerts.send(alert, on_result=on_result)

    def _record_review(
        self,
        db: Session,
        actor: ActiveSession,
        record: BreakGlass,
        outcome: str,
        review_outcome: str,
        note: str,
        *,
        reason: str | None,
    ) -> None:
        self._audit.record(
            db,
            category="access",
            action="access.break_glass.review",
            outcome=outcome,
            actor=actor.username,
            session_id=actor.id,
            case_id=record.case_id,
            reason=reason,
            details={
                "break_glass_id": record.id,
                "outcome": review_outcome,
                "user": record.username,
                "note_chars": len(note),
            },
        )


def describe(record: BreakGlass, now: datetime) -> dict[str, Any]:
    """A break-glass record for the review queue (API and CLI)."""
    return {
        "id": record.id,
        "user": record.username,
        "dataset": record.dataset,
        "case_id": record.case_id,
        "justification": record.justification,
        "started_at": record.started_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "active": now < record.expires_at,
        "grant_id": record.grant_id,
        "alert_status": record.alert_status,
        "reviewed_at": record.reviewed_at.isoformat() if record.reviewed_at else None,
        "reviewed_by": record.reviewed_by,
        "review_outcome": record.review_outcome,
        "review_note": record.review_note,
    }

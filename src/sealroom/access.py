"""The one place where policy decisions are both enforced and audited.

Every check goes through ``Gatekeeper.decide``/``require``: it asks the policy engine (with the caller's
case grants and temporary role elevations), applies step-up MFA to opening images, writes the decision
(allow or deny, with the reason and the role/grant that decided it) to the audit log in the caller's
transaction, and ``require`` raises on deny. An allow without an audit record cannot be written.
When a grant or elevation that came from an approved request is first used, that use is recorded too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.analysis.models import EngineInfo
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import Grant, Image, RoleElevation
from sealroom.egress import EgressDecision, EgressPolicy
from sealroom.errors import AccessDeniedError, NotFoundError, StepUpRequiredError
from sealroom.material import SessionMaterial
from sealroom.policy.decision import GRANT_EXPIRED, GRANT_REVOKED, STEP_UP_REQUIRED, Decision
from sealroom.policy.engine import PolicyEngine
from sealroom.policy.stepup import stale_step_up
from sealroom.sessions import ActiveSession

NOT_IN_SCOPE = "No image with that id is within your access scope."
UNMASK_ACTION = "access.unmask"
"""The audit action of the check whether a user sees personal data in clear (``may_see_unmasked``)."""


def printable(value: str | None, limit: int = 128) -> str | None:
    """A user-typed value made safe to record: bounded, and escaped unless plainly printable."""
    if value is None or (value.isprintable() and len(value) <= limit):
        return value
    return ascii(value[:limit])


class Gatekeeper:
    """Decides, audits and enforces access for an acting session."""

    def __init__(
        self,
        policy: PolicyEngine,
        egress: EgressPolicy,
        audit: AuditLog,
        clock: Clock,
        settings: Settings,
        material: SessionMaterial,
    ) -> None:
        self.policy = policy
        self.egress = egress
        self._audit = audit
        self._clock = clock
        self.settings = settings
        self._material = material

    def elevations(self, db: Session, actor: ActiveSession) -> list[RoleElevation]:
        """The actor's role elevations active now."""
        now = self._clock.now()
        return list(
            db.scalars(
                select(RoleElevation).where(
                    RoleElevation.user_id == actor.user_id,
                    RoleElevation.revoked_at.is_(None),
                    RoleElevation.expires_at > now,
                )
            )
        )

    def decide(
        self,
        db: Session,
        actor: ActiveSession,
        action: str,
        *,
        image: Image | None = None,
        dataset: str | None = None,
        classification: str | None = None,
        document_type: str | None = None,
        case_id: str | None = None,
        record_as: str = "access.decision",
    ) -> Decision:
        """Ask policy and audit the answer (``record_as``, ``access.decision`` by default); does not raise.

        Opening an image (``image:analyze`` on an image) also needs a second-factor check recent enough
        for its classification; a stale one is denied with reason ``step_up_required``.
        """
        now = self._clock.now()
        if image is not None:
            dataset, classification = image.dataset, image.classification
            document_type, case_id = image.document_type, image.case_id
        grants: list[Grant] = []
        if case_id is not None and image is not None:
            grants = list(
                db.scalars(select(Grant).where(Grant.user_id == actor.user_id, Grant.case_id == case_id))
            )
        elevations = self.elevations(db, actor)
        decision = self.policy.decide(
            list(actor.roles),
            action,
            dataset=dataset,
            classification=classification,
            document_type=document_type,
            case_grants=grants,
            case_id=case_id if image is not None else None,
            now=now,
            elevations=[(elevation.role, elevation.dataset) for elevation in elevations],
        )
        step_up: int | None = None
        if decision.allowed and action == "image:analyze" and image is not None:
            step_up = stale_step_up(self.settings, image.classification, actor.mfa_verified_at, now)
            if step_up is not None:
                decision = Decision.deny(STEP_UP_REQUIRED, decision.role)
        self._record_decision(
            db,
            actor,
            decision.allowed,
            decision.reason,
            image_id=image.id if image is not None else None,
            case_id=case_id,
            action=record_as,
            details={
                "requested": action,
                "role": decision.role,
                "grant_id": decision.grant_id,
                "dataset": printable(dataset),
                "classification": printable(classification),
                "document_type": printable(document_type),
                **({"step_up_minutes": step_up} if step_up is not None else {}),
            },
        )
        if decision.allowed:
            self._note_request_use(db, actor, decision, grants, elevations, now)
        elif image is not None and decision.reason in (GRANT_EXPIRED, GRANT_REVOKED):
            self._drop_ended(db, actor, image, decision.reason)
        return decision

    def _drop_ended(self, db: Session, actor: ActiveSession, image: Image, reason: str) -> None:
        """The grant ended while the session held the image: what it opened goes too."""
        if self._material.drop(actor.id, image.id):
            self._audit.record(
                db, category="session", action="session.purge", outcome="success", actor=actor.username,
                session_id=actor.id, image_id=image.id, case_id=image.case_id, reason=reason,
                details={"images_purged": [image.id], "count": 1},
            )  # fmt: skip

    def _note_request_use(
        self,
        db: Session,
        actor: ActiveSession,
        decision: Decision,
        grants: list[Grant],
        elevations: list[RoleElevation],
        now: datetime,
    ) -> None:
        """Record the first use of access that an approved request gave."""
        request_id: str | None = None
        if decision.grant_id is not None:
            grant = next((grant for grant in grants if grant.id == decision.grant_id), None)
            if grant is not None and grant.source == "request":
                request_id = grant.request_id
        if request_id is None and decision.role is not None and decision.role not in actor.roles:
            request_id = next(
                (elevation.request_id for elevation in elevations if elevation.role == decision.role), None
            )
        if request_id is not None:
            # Imported here: the request service itself depends on this module.
            from sealroom.policy.requests import record_request_use

            record_request_use(db, self._audit, now, actor, request_id)

    def require(
        self,
        db: Session,
        actor: ActiveSession,
        action: str,
        *,
        image: Image | None = None,
        dataset: str | None = None,
        classification: str | None = None,
        document_type: str | None = None,
    ) -> Decision:
        """Like ``decide`` but raises on deny, after committing the denial's audit record.

        Call it before changing anything in ``db``: on deny it commits the transaction so the denial
        is on record, then raises. A denied action on a specific image raises ``NotFoundError`` with
        the same message as a missing image, so the caller learns nothing about material outside
        their scope; other denials raise ``AccessDeniedError`` carrying the policy's reason.
        """
        decision = self.decide(
            db,
            actor,
            action,
            image=image,
            dataset=dataset,
            classification=classification,
            document_type=document_type,
        )
        if decision.allowed:
            return decision
        db.commit()
        if decision.reason == STEP_UP_REQUIRED and image is not None:
            minutes = self.settings.step_up_minutes(image.classification) or 0
            raise StepUpRequiredError(
                f"images classified {image.classification!r} need a second-factor check within the last "
                f"{minutes} minutes; re-verify with your authenticator code (POST /api/v1/session/step-up) "
                "and repeat the request",
                max_age_minutes=minutes,
            )
        if image is not None:
            raise NotFoundError(NOT_IN_SCOPE, reason=decision.reason)
        raise AccessDeniedError(
            f"your role does not allow {action} here ({decision.reason.replace('_', ' ')})",
            reason=decision.reason,
        )

    def require_egress(
        self, db: Session, actor: ActiveSession, image: Image, engine: EngineInfo
    ) -> EgressDecision:
        """Decide whether the image may go to the external ``engine``, audit it, refuse ``local-only``.

        A caller whose role may not see personal data unmasked never has unredacted pixels sent for
        them: ``allowed`` becomes ``redacted``, since a model's wording of what it read cannot be relied
        on to be masked. Commits the record before returning, so the decision is on file before any
        byte leaves.
        """
        decision = self.egress.decide(image.dataset, image.classification)
        if decision.mode == "allowed":
            unmasked = self.may_see_unmasked(db, actor, image)
            if not unmasked:
                decision = EgressDecision("redacted", f"{decision.basis}+role_masked")
        self._record_decision(
            db,
            actor,
            decision.allowed,
            decision.reason,
            image_id=image.id,
            case_id=image.case_id,
            details={
                "requested": "image:egress",
                "egress": decision.mode,
                "basis": decision.basis,
                "engine": engine.name,
                "provider": engine.provider,
                "endpoint_host": engine.host,
                "model": engine.model,
                "dataset": printable(image.dataset),
                "classification": printable(image.classification),
            },
        )
        db.commit()
        if not decision.allowed:
            raise AccessDeniedError(
                f"images of data set {image.dataset!r} at classification {image.classification!r} are "
                f"local-only: they may not be sent to the external engine {engine.name!r}; "
                "use the local engine",
                reason=decision.reason,
            )
        return decision

    def may_see_unmasked(self, db: Session, actor: ActiveSession, image: Image) -> bool:
        """Whether ``actor`` sees ``image``'s personal data in clear (``pii:view_unmasked``).

        Recorded as ``access.unmask``, not ``access.decision``: a "no" here refuses nothing the user
        asked for (what they asked for is delivered masked), so it must not count among denials.
        """
        return self.decide(db, actor, "pii:view_unmasked", image=image, record_as=UNMASK_ACTION).allowed

    def _record_decision(
        self,
        db: Session,
        actor: ActiveSession,
        allowed: bool,
        reason: str,
        *,
        image_id: str | None,
        case_id: str | None,
        details: dict[str, object],
        action: str = "access.decision",
    ) -> None:
        self._audit.record(
            db,
            category="access",
            action=action,
            outcome="allow" if allowed else "deny",
            actor=actor.username,
            session_id=actor.id,
            image_id=image_id,
            case_id=case_id,
            reason=reason,
            details=details,
        )

    def missing_image(self, db: Session, actor: ActiveSession, action: str, image_id: str) -> NotFoundError:
        """Audit a request for an image id that does not exist; returns the error to raise."""
        self._record_decision(
            db,
            actor,
            False,
            "not_found",
            image_id=None,
            case_id=None,
            details={"requested": action, "image_ref": image_id[:64]},
        )
        db.commit()
        return NotFoundError(NOT_IN_SCOPE, reason="not_found")

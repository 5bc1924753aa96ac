"""Who may decide an access request, how many approvals it needs now, and who may see it.

Deciding needs ``request:approve`` on every data set (and classification) the request concerns: for a
case request, the data set it names and every data set the case's images are in now. Seeing is for
the requester, past reviewers, possible approvers and ``audit:read`` holders.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.access import Gatekeeper
from sealroom.config import Settings
from sealroom.db.models import AccessRequest, Image, RoleElevation
from sealroom.errors import AccessDeniedError, ConflictError
from sealroom.policy.request_rules import approvals_for, case_datasets
from sealroom.policy.request_views import has_reviewed
from sealroom.sessions import ActiveSession

# (data set, classification or None): one scope an approver must hold ``request:approve`` on.
Target = tuple[str, str | None]
# (data set, classification or None, the policy's reason): a scope an approver lacks.
Missing = tuple[str, str | None, str]
# (role, data set or None) of an active role elevation.
Elevation = tuple[str, str | None]


def active_elevations(db: Session, actor: ActiveSession, now: datetime) -> list[Elevation]:
    """The actor's role elevations that are neither revoked nor expired at ``now``."""
    rows = db.execute(
        select(RoleElevation.role, RoleElevation.dataset).where(
            RoleElevation.user_id == actor.user_id,
            RoleElevation.revoked_at.is_(None),
            RoleElevation.expires_at > now,
        )
    )
    return [(role, dataset) for role, dataset in rows]


class Reviewers:
    """Answers who may decide and who may see a request, from the settings and the policy."""

    def __init__(self, settings: Settings, gate: Gatekeeper) -> None:
        self._settings = settings
        self._gate = gate

    def targets(self, db: Session, req: AccessRequest, *, strict: bool) -> list[Target]:
        """The scopes an approver needs ``request:approve`` on.

        An approver never hands out clearance above their own: for role elevations the role's
        ``max_classification`` is part of the question. ``strict`` raises ``ConflictError`` when what
        the request names is gone; otherwise the request's own data set is the fallback.
        """
        fallback: list[Target] = [(req.dataset, None)] if req.dataset else []

        def gone(message: str, reason: str) -> list[Target]:
            if strict:
                raise ConflictError(message, reason=reason)
            return fallback

        if req.kind == "export":
            image = db.get(Image, req.image_id) if req.image_id else None
            if image is None:
                return gone(
                    "the image of this export request no longer exists; deny the request", "image_gone"
                )
            return [(image.dataset, image.classification)]
        if req.kind == "case":
            # The grant reaches the whole case: every data set its images are in is concerned.
            names = [req.dataset] if req.dataset else []
            if req.case_id:
                names.extend(name for name in case_datasets(db, req.case_id) if name not in names)
            known: list[Target] = [(name, None) for name in names if name in self._settings.datasets]
            if len(known) == len(names):
                return known
            unknown = ", ".join(repr(name) for name in names if name not in self._settings.datasets)
            if strict:
                raise ConflictError(
                    f"the case concerns data set(s) no longer configured ({unknown}); deny the request",
                    reason="dataset_gone",
                )
            return known or fallback
        role = self._settings.roles.get(req.role or "")
        if role is None or (req.kind == "dataset" and req.dataset not in role.datasets):
            return gone(
                f"role {req.role!r} no longer exists or no longer covers this; deny the request", "role_gone"
            )
        datasets = [req.dataset] if req.kind == "dataset" and req.dataset else role.datasets
        return [(name, role.max_classification) for name in datasets]

    def approvals_required(self, req: AccessRequest, targets: list[Target]) -> int:
        """The approvals ``req`` needs now: never fewer than when it was submitted, more if the
        configuration has since been tightened or the case has grown into a stricter data set."""
        current = approvals_for(
            self._settings,
            (dataset for dataset, _classification in targets),
            original_export=req.kind == "export" and req.export_variant == "original",
        )
        return max(req.approvals_required, current)

    def missing(
        self, db: Session, actor: ActiveSession, req: AccessRequest, targets: list[Target]
    ) -> list[Missing]:
        """Ask the gate (audited, in ``db``'s transaction) for ``request:approve`` on every target;
        the scopes refused, with the policy's reason (none: the actor may decide ``req``)."""
        missing: list[Missing] = []
        for dataset, classification in targets:
            decision = self._gate.decide(
                db,
                actor,
                "request:approve",
                dataset=dataset,
                classification=classification,
                case_id=req.case_id,
            )
            if not decision.allowed:
                missing.append((dataset, classification, decision.reason))
        return missing

    @staticmethod
    def refusal(missing: list[Missing]) -> AccessDeniedError:
        """The error for an approver lacking ``request:approve`` on ``missing`` (non-empty), for
        people allowed to see the request only: it names the scopes."""
        scopes = ", ".join(
            f"data set {dataset!r}" + (f" at {classification!r}" if classification else "")
            for dataset, classification, _reason in missing
        )
        return AccessDeniedError(
            f"you may not decide this request: your roles do not allow request:approve on {scopes} "
            f"({missing[0][2].replace('_', ' ')})",
            reason=missing[0][2],
        )

    def may_approve(
        self,
        db: Session,
        actor: ActiveSession,
        req: AccessRequest,
        now: datetime,
        elevations: list[Elevation],
    ) -> bool:
        """Whether the actor could approve ``req`` (policy only: a visibility probe, not audited)."""
        if req.requester_id == actor.user_id:
            return False
        targets = self.targets(db, req, strict=False)
        return bool(targets) and all(
            self._gate.policy.decide(
                list(actor.roles),
                "request:approve",
                dataset=dataset,
                classification=classification,
                now=now,
                elevations=elevations,
            ).allowed
            for dataset, classification in targets
        )

    def visible(self, db: Session, actor: ActiveSession, req: AccessRequest, now: datetime) -> bool:
        """Whether the actor may see ``req`` (not audited)."""
        if req.requester_id == actor.user_id or has_reviewed(db, req.id, actor.user_id):
            return True
        elevations = active_elevations(db, actor, now)
        if self._gate.policy.decide(list(actor.roles), "audit:read", now=now, elevations=elevations).allowed:
            return True
        return self.may_approve(db, actor, req, now, elevations)

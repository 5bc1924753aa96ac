"""Who may read the readiness report and who may sign the configuration off (API and pages alike).

The report is for administrators (``workspace:admin``) and compliance reviewers (``audit:read``). A
sign-off needs ``audit:read`` *and* no ``workspace:admin``: the point of a review is that someone other
than the person who configured the workspace looked at it, so an account holding both is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sealroom.errors import AccessDeniedError

if TYPE_CHECKING:
    from sealroom.sessions import ActiveSession
    from sealroom.workspace import Workspace

REVIEW_ACTION: Final = "audit:read"
ADMIN_ACTION: Final = "workspace:admin"


def holds(workspace: Workspace, active: ActiveSession, action: str) -> bool:
    """Whether the user's roles (and role elevations) allow ``action``; a preview, not recorded."""
    with workspace.db() as db:
        elevations = [(e.role, e.dataset) for e in workspace.gate.elevations(db, active)]
    decision = workspace.gate.policy.decide(
        list(active.roles), action, now=workspace.clock.now(), elevations=elevations
    )
    return decision.allowed


def may_sign(workspace: Workspace, active: ActiveSession) -> bool:
    """Whether the user may sign off (a preview for the page; ``require_signer`` decides)."""
    return holds(workspace, active, REVIEW_ACTION) and not holds(workspace, active, ADMIN_ACTION)


def require_report_reader(workspace: Workspace, active: ActiveSession) -> None:
    """Decide and record the permission the caller reads the report under (a reviewer's
    ``audit:read``, else ``workspace:admin``), so an administrator's read is not also on record as a
    reviewer's denial. Raises ``AccessDeniedError`` when neither is held."""
    reviewer = holds(workspace, active, REVIEW_ACTION)
    with workspace.db() as db:
        workspace.gate.require(db, active, REVIEW_ACTION if reviewer else ADMIN_ACTION)
        db.commit()


def require_signer(workspace: Workspace, active: ActiveSession) -> None:
    """Decide and record a sign-off's permission: ``audit:read`` through the gate, then refuse (and
    record ``readiness.signoff`` as a failure) an account that also administers the workspace."""
    with workspace.db() as db:
        workspace.gate.require(db, active, REVIEW_ACTION)
        db.commit()
    if not holds(workspace, active, ADMIN_ACTION):
        return
    with workspace.db() as db:
        workspace.audit.record(
            db,
            category="admin",
            action="readiness.signoff",
            outcome="failure",
            actor=active.username,
            session_id=active.id,
            reason="reviewer_administers_workspace",
        )
        db.commit()
    raise AccessDeniedError(
        "a sign-off must come from a reviewer who does not administer the workspace; "
        "ask a compliance reviewer without the administrator role to sign off",
        reason="reviewer_administers_workspace",
    )
